// Precision names and the host emulation of the tensor-core operand rounding (see precision.h).
// The fp16 conversion is written out (not taken from a compiler's _Float16) so that the CPU-only
// build and the CUDA build round identically on every compiler.
#include "kernels/precision.h"

#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/error.h"

namespace dice {
namespace {

uint32_t bits_of(float x) {
  uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}
float float_of(uint32_t b) {
  float x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}

// Round to nearest, ties away from zero, keeping 10 explicit mantissa bits (cvt.rna.tf32.f32).
float round_tf32(float x) {
  if (!std::isfinite(x)) return x;
  return float_of((bits_of(x) + 0x1000u) & 0xFFFFE000u);
}

// Round to nearest even, keeping 7 explicit mantissa bits (__float2bfloat16_rn).
float round_bf16(float x) {
  if (std::isnan(x)) return x;
  const uint32_t b = bits_of(x);
  return float_of((b + 0x7FFFu + ((b >> 16) & 1u)) & 0xFFFF0000u);
}

// Round to nearest even in IEEE binary16 (__float2half_rn), subnormals included; the result is
// exactly representable in float, so it is computed in float: scale the value so that the unit in
// the last place of its binary16 neighbourhood is 1, round with nearbyint (ties to even in the
// default rounding mode), scale back.
float round_fp16(float x) {
  if (!std::isfinite(x)) return x;
  const float a = std::fabs(x);
  if (a >= 65520.0f) return std::copysign(INFINITY, x);  // rounds to beyond the largest half
  int e;
  std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
  // binary16 keeps 11 significant bits for normals (e >= -13), a fixed ulp of 2^-24 below.
  const int ulp_exp = e >= -13 ? e - 11 : -24;
  const float r = std::ldexp(std::nearbyint(std::ldexp(a, -ulp_exp)), ulp_exp);
  return std::copysign(r, x);
}

}  // namespace

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::kFp32: return "fp32";
    case Precision::kTf32: return "tf32";
    case Precision::kFp16: return "fp16";
    case Precision::kBf16: return "bf16";
  }
  return "?";
}

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::kFp32;
  if (name == "tf32") return Precision::kTf32;
  if (name == "fp16") return Precision::kFp16;
  if (name == "bf16") return Precision::kBf16;
  throw_error("unknown precision '", name, "'; known: fp32, tf32, fp16, bf16");
}

float round_to_precision(float x, Precision p) {
  switch (p) {
    case Precision::kFp32: return x;
    case Precision::kTf32: return round_tf32(x);
    case Precision::kFp16: return round_fp16(x);
    case Precision::kBf16: return round_bf16(x);
  }
  return x;
}

}  // namespace dice
