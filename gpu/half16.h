// The 16-bit activation and operand types in device code, as raw bits (uint16_t), so that one
// kernel template serves fp16 and bf16: kBf16 picks bfloat16, otherwise IEEE binary16. Under
// cuda_emu the same intrinsics come from cuda_emu/include (bit-exact, hardware rounding).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <cstring>

namespace dice::half16 {

// The exact float of a 16-bit value.
template <bool kBf16>
__device__ __forceinline__ float to_float(uint16_t b) {
  if constexpr (kBf16) {
    __nv_bfloat16 h;
    memcpy(&h, &b, 2);
    return __bfloat162float(h);
  } else {
    __half h;
    memcpy(&h, &b, 2);
    return __half2float(h);
  }
}

// x rounded to nearest even.
template <bool kBf16>
__device__ __forceinline__ uint16_t from_float(float x) {
  uint16_t b;
  if constexpr (kBf16) {
    const __nv_bfloat16 h = __float2bfloat16_rn(x);
    memcpy(&b, &h, 2);
  } else {
    const __half h = __float2half_rn(x);
    memcpy(&b, &h, 2);
  }
  return b;
}

// Two floats rounded into one 32-bit word, `lo` in the low half (the first element in memory).
template <bool kBf16>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  uint32_t r;
  if constexpr (kBf16) {
    const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    memcpy(&r, &h, sizeof r);
  } else {
    const __half2 h = __floats2half2_rn(lo, hi);
    memcpy(&r, &h, sizeof r);
  }
  return r;
}

}  // namespace dice::half16
