// Host side of the tensor-core convolutions, no GPU needed: the operand rounding of
// round_to_precision (kernels/precision.h) against hand-checked values, and the packed weight
// layout of conv2d_tc_pack_weights (kernels/conv2d_tc.h): sizes, padding, element bits.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "kernels/conv2d_tc.h"
#include "kernels/precision.h"

namespace dice {
namespace {

float from_bits(uint32_t b) {
  float x;
  std::memcpy(&x, &b, 4);
  return x;
}

TEST(Precision, NamesRoundTrip) {
  for (Precision p : {Precision::kFp32, Precision::kTf32, Precision::kFp16, Precision::kBf16,
                      Precision::k3xTf32})
    EXPECT_EQ(parse_precision(precision_name(p)), p);
  EXPECT_STREQ(precision_name(Precision::k3xTf32), "3xtf32");
  EXPECT_TRUE(is_tensor_core(Precision::k3xTf32));
  EXPECT_THROW(parse_precision("fp8"), Error);
}

TEST(Precision, Fp16Rounding) {
  EXPECT_EQ(round_to_precision(1.0f, Precision::kFp16), 1.0f);
  // 1 + 2^-11 is half-way between 1 and 1 + 2^-10: ties to even -> 1.
  EXPECT_EQ(round_to_precision(1.0f + std::ldexp(1.0f, -11), Precision::kFp16), 1.0f);
  // 1 + 3 * 2^-11 is half-way between 1 + 2^-10 and 1 + 2^-9: ties to even -> 1 + 2^-9.
  EXPECT_EQ(round_to_precision(1.0f + 3 * std::ldexp(1.0f, -11), Precision::kFp16),
            1.0f + std::ldexp(1.0f, -9));
  EXPECT_EQ(round_to_precision(65504.0f, Precision::kFp16), 65504.0f);
  EXPECT_EQ(round_to_precision(65519.0f, Precision::kFp16), 65504.0f);
  EXPECT_TRUE(std::isinf(round_to_precision(65520.0f, Precision::kFp16)));
  // Subnormals: multiples of 2^-24; 2^-25 ties to even -> 0, 3 * 2^-25 -> 2^-23.
  EXPECT_EQ(round_to_precision(std::ldexp(1.0f, -24), Precision::kFp16), std::ldexp(1.0f, -24));
  EXPECT_EQ(round_to_precision(std::ldexp(1.0f, -25), Precision::kFp16), 0.0f);
  EXPECT_EQ(round_to_precision(3 * std::ldexp(1.0f, -25), Precision::kFp16), std::ldexp(1.0f, -23));
  EXPECT_EQ(round_to_precision(-0.1f, Precision::kFp16), -0.0999755859375f);
}

TEST(Precision, Bf16AndTf32Rounding) {
  EXPECT_EQ(round_to_precision(from_bits(0x3F808000u), Precision::kBf16), from_bits(0x3F800000u));  // tie -> even
  EXPECT_EQ(round_to_precision(from_bits(0x3F818000u), Precision::kBf16), from_bits(0x3F820000u));  // tie -> even
  EXPECT_EQ(round_to_precision(from_bits(0x3F808001u), Precision::kBf16), from_bits(0x3F810000u));
  // tf32 keeps 10 mantissa bits, ties away from zero (cvt.rna).
  EXPECT_EQ(round_to_precision(from_bits(0x3F801000u), Precision::kTf32), from_bits(0x3F802000u));
  EXPECT_EQ(round_to_precision(from_bits(0xBF801000u), Precision::kTf32), from_bits(0xBF802000u));
  EXPECT_EQ(round_to_precision(from_bits(0x3F800FFFu), Precision::kTf32), from_bits(0x3F800000u));
  EXPECT_EQ(round_to_precision(0.3f, Precision::kFp32), 0.3f);
  // 3xtf32 keeps the float32 operand (the kernel splits it into two tf32 parts).
  EXPECT_EQ(round_to_precision(from_bits(0x3F801001u), Precision::k3xTf32), from_bits(0x3F801001u));
}

TEST(Conv2dTcPack, LayoutPaddingAndBits) {
  Conv2dParams p;
  p.in_channels = 3, p.out_channels = 5, p.kernel = 3;  // K = 27 -> 32 columns, 5 -> 64 rows
  std::vector<float> w(5 * 27);
  for (size_t i = 0; i < w.size(); ++i) w[i] = 0.01f * static_cast<float>(i) - 0.5f;
  for (Precision prec : {Precision::kTf32, Precision::kFp16, Precision::kBf16, Precision::k3xTf32}) {
    SCOPED_TRACE(precision_name(prec));
    const size_t eb = prec == Precision::kTf32 || prec == Precision::k3xTf32 ? 4 : 2;
    EXPECT_EQ(conv2d_tc_packed_bytes(p, prec), 64 * 32 * eb);
    const std::vector<uint8_t> packed = conv2d_tc_pack_weights(p, prec, w.data());
    ASSERT_EQ(packed.size(), 64 * 32 * eb);
    for (int o = 0; o < 64; ++o)
      for (int j = 0; j < 32; ++j) {
        const uint8_t* e = packed.data() + (o * 32 + j) * eb;
        float got;
        if (eb == 4) {
          std::memcpy(&got, e, 4);
        } else if (prec == Precision::kBf16) {
          uint16_t h;
          std::memcpy(&h, e, 2);
          got = from_bits(static_cast<uint32_t>(h) << 16);
        } else {  // binary16 -> float by hand
          uint16_t h;
          std::memcpy(&h, e, 2);
          const int exp = (h >> 10) & 31, mant = h & 1023;
          got = exp ? std::ldexp(1.0f + mant / 1024.0f, exp - 15) : std::ldexp(mant / 1024.0f, -14);
          if (h & 0x8000) got = -got;
        }
        const float want = (o < 5 && j < 27) ? round_to_precision(w[o * 27 + j], prec) : 0.0f;
        ASSERT_EQ(got, want) << "row " << o << " col " << j;
      }
  }
  EXPECT_THROW(conv2d_tc_packed_bytes(p, Precision::kFp32), Error);
}

}  // namespace
}  // namespace dice
