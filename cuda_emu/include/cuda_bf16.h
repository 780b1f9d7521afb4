// cuda_emu's stand-in for <cuda_bf16.h>: bfloat16 types and the round-to-nearest-even conversion
// dice's kernels use (NaN stays a quiet NaN), at the bit level.
#pragma once
#include <cstdint>
#include <cstring>

struct __nv_bfloat16 {
  uint16_t bits;
};
struct __nv_bfloat162 {
  __nv_bfloat16 x, y;  // x in the low 16 bits
};

inline __nv_bfloat16 __float2bfloat16_rn(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return __nv_bfloat16{static_cast<uint16_t>((x >> 16) | 0x40u)};
  const uint32_t rest = x & 0xFFFFu;
  uint32_t h = x >> 16;
  if (rest > 0x8000u || (rest == 0x8000u && (h & 1u))) ++h;
  return __nv_bfloat16{static_cast<uint16_t>(h)};
}
inline __nv_bfloat162 __floats2bfloat162_rn(float lo, float hi) {
  return __nv_bfloat162{__float2bfloat16_rn(lo), __float2bfloat16_rn(hi)};
}
// bfloat16 -> float, exact.
inline float __bfloat162float(__nv_bfloat16 h) {
  const uint32_t x = static_cast<uint32_t>(h.bits) << 16;
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}
