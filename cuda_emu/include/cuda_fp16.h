// cuda_emu's stand-in for <cuda_fp16.h>: the binary16 types and the conversions dice's kernels use,
// with the hardware's rounding (round to nearest even, subnormals kept, overflow to infinity),
// written at the bit level independently of kernels/precision.cpp, which the tests compare with.
#pragma once
#include <cstdint>
#include <cstring>

struct __half {
  uint16_t bits;
};
struct __half2 {
  __half x, y;  // x in the low 16 bits, as on the device
};

namespace dice::emu {
inline uint16_t float_to_half_rn(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t mag = x & 0x7FFFFFFFu;
  if (mag > 0x7F800000u) return static_cast<uint16_t>(sign | 0x7E00u | ((mag >> 13) & 0x3FFu));
  if (mag >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);  // >= 65520: infinity
  const int exp = static_cast<int>(mag >> 23) - 127;
  if (exp >= -14) {  // normal half: keep 10 mantissa bits, round to nearest even
    const uint32_t m = mag & 0x7FFFFFu;
    uint32_t h = static_cast<uint32_t>(exp + 15) << 10 | m >> 13;
    const uint32_t rest = m & 0x1FFFu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // a carry may bump the exponent
    return static_cast<uint16_t>(sign | h);
  }
  if (exp < -25) return static_cast<uint16_t>(sign);  // below half the smallest subnormal
  // Subnormal half: value = m * 2^-24 with m = round(significand * 2^(exp + 24 - 23)).
  const uint32_t sig = (mag & 0x7FFFFFu) | 0x800000u;
  const int shift = -(exp + 1);  // 14 .. 24: bits dropped from the 24-bit significand
  uint32_t h = sig >> shift;
  const uint32_t rest = sig & ((1u << shift) - 1u), half = 1u << (shift - 1);
  if (rest > half || (rest == half && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}
}  // namespace dice::emu

inline __half __float2half_rn(float f) { return __half{::dice::emu::float_to_half_rn(f)}; }
inline __half2 __floats2half2_rn(float lo, float hi) {
  return __half2{__float2half_rn(lo), __float2half_rn(hi)};
}
// binary16 -> float, exact (every binary16 value is a float).
inline float __half2float(__half h) {
  const uint32_t sign = static_cast<uint32_t>(h.bits & 0x8000u) << 16;
  const uint32_t exp = (h.bits >> 10) & 0x1Fu, mant = h.bits & 0x3FFu;
  uint32_t x;
  if (exp == 0x1Fu) {
    x = sign | 0x7F800000u | (mant << 13);  // inf, or NaN with its payload
  } else if (exp != 0) {
    x = sign | ((exp + 112u) << 23) | (mant << 13);  // rebias 15 -> 127
  } else if (mant == 0) {
    x = sign;
  } else {  // subnormal: mant * 2^-24, normalised
    int e = -1;
    uint32_t m = mant;
    while (!(m & 0x400u)) m <<= 1, ++e;
    x = sign | (static_cast<uint32_t>(112 - e) << 23) | ((m & 0x3FFu) << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}
