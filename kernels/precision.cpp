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
    case Precision::k3xTf32: return "3xtf32";
  }
  return "?";
}

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::kFp32;
  if (name == "tf32") return Precision::kTf32;
  if (name == "fp16") return Precision::kFp16;
  if (name == "bf16") return Precision::kBf16;
  if (name == "3xtf32") return Precision::k3xTf32;
  throw_error("unknown precision '", name, "'; known: fp32, tf32, fp16, bf16, 3xtf32");
}

float round_to_precision(float x, Precision p) {
  switch (p) {
    case Precision::kFp32: return x;
    case Precision::kTf32: return round_tf32(x);
    case Precision::kFp16: return round_fp16(x);
    case Precision::kBf16: return round_bf16(x);
    case Precision::k3xTf32: return x;
  }
  return x;
}


namespace {

// Bits of a float that is exactly representable in binary16 (the output of round_fp16).
uint16_t half_bits(float r) {
  const uint16_t sign = std::signbit(r) ? 0x8000 : 0;
  if (std::isnan(r)) return 0x7E00;
  const float a = std::fabs(r);
  if (std::isinf(a)) return sign | 0x7C00;
  if (a == 0.0f) return sign;
  int e;
  const float m = std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
  const int biased = e + 14;           // a = (2m) * 2^(e-1), exponent bias 15
  if (biased >= 1) {
    const auto mant = static_cast<uint16_t>(std::lround((2.0f * m - 1.0f) * 1024.0f));
    return sign | static_cast<uint16_t>(biased << 10) | mant;
  }
  return sign | static_cast<uint16_t>(std::lround(std::ldexp(a, 24)));  // subnormal: units of 2^-24
}

void check_bits16(Precision p) {
  if (p != Precision::kFp16 && p != Precision::kBf16)
    throw_error("precision ", precision_name(p), " has no 16-bit storage; use fp16 or bf16");
}

}  // namespace

uint16_t to_bits16(float x, Precision p) {
  check_bits16(p);
  const float r = round_to_precision(x, p);
  if (p == Precision::kFp16) return half_bits(r);
  return static_cast<uint16_t>(bits_of(r) >> 16);  // r is already a bfloat16 value
}

float from_bits16(uint16_t b, Precision p) {
  check_bits16(p);
  if (p == Precision::kBf16) return float_of(static_cast<uint32_t>(b) << 16);
  const float sign = (b & 0x8000u) ? -1.0f : 1.0f;
  const int exp = (b >> 10) & 0x1F, mant = b & 0x3FF;
  if (exp == 0x1F) return mant ? std::nanf("") : sign * INFINITY;
  if (exp == 0) return sign * std::ldexp(static_cast<float>(mant), -24);
  return sign * std::ldexp(static_cast<float>(mant + 1024), exp - 25);
}

}  // namespace dice
