// Pooling ops against double-precision references written straight from the PyTorch semantics:
// average pooling counts padded taps as zeros in a k*k divisor (count_include_pad=True), max
// pooling treats them as -inf and propagates NaN, and the optional BN+ReLU prologue applies to
// real input elements only. Inputs and outputs are channel slices of wider buffers; outputs are
// NaN-poisoned first and everything outside the slice must keep the poison.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/pool.h"
#include "test_util.h"

namespace dice {
namespace {

std::vector<float> random_vector(int64_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

struct PoolCase {
  const char* name;
  int64_t batch, channels, height, width, kernel, stride, pad;
};

const PoolCase kCases[] = {
    {"densenet_trans1_2x2s2_32", 2, 216, 32, 32, 2, 2, 0},
    {"densenet_trans2_2x2s2_16", 2, 300, 16, 16, 2, 2, 0},
    {"resnet_stem_3x3s2p1_112", 1, 8, 112, 112, 3, 2, 1},
    {"odd_2x2s2_7x5", 3, 5, 7, 5, 2, 2, 0},
    {"odd_3x3s1p1_5x7", 2, 3, 5, 7, 3, 1, 1},
    {"odd_3x3s2p1_9x7", 2, 13, 9, 7, 3, 2, 1},
    {"odd_1x1s1_1x1", 2, 1, 1, 1, 1, 1, 0},
    {"odd_5x5s3p2_11x13", 1, 3, 11, 13, 5, 3, 2},
};

Pool2dParams params(const PoolCase& c) {
  Pool2dParams p;
  p.batch = c.batch, p.channels = c.channels, p.height = c.height, p.width = c.width;
  p.kernel = c.kernel, p.stride = c.stride, p.pad = c.pad;
  // Channel slices: input channels [2, 2+C) of C+3, output channels [1, 1+C) of C+2.
  p.in_batch_stride = (c.channels + 3) * c.height * c.width;
  p.out_batch_stride = (c.channels + 2) * p.out_height() * p.out_width();
  return p;
}

// max over the window (real taps only; padded taps are -inf) or the k*k average (padded taps 0).
std::vector<double> reference(const Pool2dParams& p, const float* in, bool average,
                              const float* scale, const float* shift) {
  const int64_t Ho = p.out_height(), Wo = p.out_width();
  std::vector<double> out(static_cast<size_t>(p.batch * p.channels * Ho * Wo));
  for (int64_t n = 0; n < p.batch; ++n)
    for (int64_t c = 0; c < p.channels; ++c)
      for (int64_t oy = 0; oy < Ho; ++oy)
        for (int64_t ox = 0; ox < Wo; ++ox) {
          double acc = average ? 0.0 : -INFINITY;
          bool nan = false;
          for (int64_t kh = 0; kh < p.kernel; ++kh)
            for (int64_t kw = 0; kw < p.kernel; ++kw) {
              const int64_t iy = oy * p.stride - p.pad + kh, ix = ox * p.stride - p.pad + kw;
              if (iy < 0 || iy >= p.height || ix < 0 || ix >= p.width) continue;
              double v = in[n * p.in_stride() + (c * p.height + iy) * p.width + ix];
              if (scale) v = std::max(v * scale[c] + shift[c], 0.0);
              if (std::isnan(v)) nan = true;
              acc = average ? acc + v : std::max(acc, v);
            }
          if (average) acc /= static_cast<double>(p.kernel * p.kernel);
          if (nan) acc = NAN;
          out[((n * p.channels + c) * Ho + oy) * Wo + ox] = acc;
        }
  return out;
}

// Splits a poisoned output buffer into the slice (returned) and a count of clobbered elements.
std::vector<float> slice(const Pool2dParams& p, const std::vector<float>& buf, int64_t* clobbered) {
  const int64_t plane = p.out_height() * p.out_width();
  std::vector<float> s;
  *clobbered = 0;
  for (int64_t n = 0; n < p.batch; ++n)
    for (int64_t i = 0; i < p.out_batch_stride; ++i) {
      const float v = buf[n * p.out_batch_stride + i];
      if (i >= plane && i < plane * (1 + p.channels))
        s.push_back(v);
      else if (!std::isnan(v))
        ++*clobbered;
    }
  return s;
}

class PoolCpu : public ::testing::TestWithParam<PoolCase> {};

TEST_P(PoolCpu, AvgMatchesReference) {
  const PoolCase& c = GetParam();
  const Pool2dParams p = params(c);
  const auto in = random_vector(p.batch * p.in_batch_stride, 1, -2, 2);
  const auto scale = random_vector(c.channels, 2, -1.5f, 1.5f);
  const auto shift = random_vector(c.channels, 3, -0.5f, 0.5f);
  const float* x = in.data() + 2 * c.height * c.width;
  for (bool prologue : {false, true}) {
    SCOPED_TRACE(prologue ? "with BN+ReLU prologue" : "plain");
    std::vector<float> out(static_cast<size_t>(p.batch * p.out_batch_stride), NAN);
    avg_pool2d_cpu(p, x, out.data() + p.out_height() * p.out_width(),
                   prologue ? scale.data() : nullptr, prologue ? shift.data() : nullptr);
    const auto ref =
        reference(p, x, true, prologue ? scale.data() : nullptr, prologue ? shift.data() : nullptr);
    int64_t clobbered;
    const auto got = slice(p, out, &clobbered);
    EXPECT_EQ(clobbered, 0);
    const std::vector<float> want(ref.begin(), ref.end());
    EXPECT_LT(test::normalized_error(got.data(), want.data(), static_cast<int64_t>(got.size()),
                                     1e-6, c.name),
              1e-6);
  }
}

TEST_P(PoolCpu, MaxMatchesReferenceExactly) {
  const PoolCase& c = GetParam();
  const Pool2dParams p = params(c);
  // All-negative input: a window that overlaps the padding must still return its largest real
  // value, which only holds if padding acts as -inf rather than 0.
  const auto in = random_vector(p.batch * p.in_batch_stride, 4, -3, -0.5f);
  const float* x = in.data() + 2 * c.height * c.width;
  std::vector<float> out(static_cast<size_t>(p.batch * p.out_batch_stride), NAN);
  max_pool2d_cpu(p, x, out.data() + p.out_height() * p.out_width());
  const auto ref = reference(p, x, false, nullptr, nullptr);
  int64_t clobbered;
  const auto got = slice(p, out, &clobbered);
  EXPECT_EQ(clobbered, 0);
  ASSERT_EQ(got.size(), ref.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_EQ(got[i], static_cast<float>(ref[i])) << "at " << i;
}

INSTANTIATE_TEST_SUITE_P(Cases, PoolCpu, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<PoolCase>& info) {
                           return std::string(info.param.name);
                         });

TEST(MaxPoolCpu, PropagatesNaN) {
  Pool2dParams p;
  p.batch = 1, p.channels = 1, p.height = 4, p.width = 4, p.kernel = 2, p.stride = 2;
  std::vector<float> in(16, 1.0f), out(4);
  in[5] = NAN;  // row 1, col 1: inside the first window only
  max_pool2d_cpu(p, in.data(), out.data());
  EXPECT_TRUE(std::isnan(out[0]));
  EXPECT_EQ(out[1], 1.0f);
  EXPECT_EQ(out[2], 1.0f);
  EXPECT_EQ(out[3], 1.0f);
}

TEST(AvgPoolCpu, PaddingCountsInTheDivisor) {
  // 3x3/1 pad 1 over a 2x2 plane of ones: every window holds 4 ones out of 9 taps.
  Pool2dParams p;
  p.batch = 1, p.channels = 1, p.height = 2, p.width = 2, p.kernel = 3, p.stride = 1, p.pad = 1;
  std::vector<float> in(4, 1.0f), out(4);
  avg_pool2d_cpu(p, in.data(), out.data());
  for (float v : out) EXPECT_FLOAT_EQ(v, 4.0f / 9.0f);
}

TEST(GlobalAvgPoolCpu, MatchesReference) {
  for (int64_t hw : {1, 49, 64}) {
    for (bool prologue : {false, true}) {
      for (int64_t extra : {0, 7}) {
        SCOPED_TRACE("hw=" + std::to_string(hw) + (prologue ? " prologue" : "") +
                     " extra channels=" + std::to_string(extra));
        const int64_t batch = 3, channels = 342, stride = (channels + extra) * hw;
        const auto in = random_vector(batch * stride, 5, -2, 2);
        const auto scale = random_vector(channels, 6, -1.5f, 1.5f);
        const auto shift = random_vector(channels, 7, -0.5f, 0.5f);
        std::vector<float> out(static_cast<size_t>(batch * channels));
        global_avg_pool_cpu(batch, channels, hw, in.data(), out.data(),
                            prologue ? scale.data() : nullptr, prologue ? shift.data() : nullptr,
                            extra ? stride : 0);
        std::vector<float> want(out.size());
        for (int64_t n = 0; n < batch; ++n)
          for (int64_t c = 0; c < channels; ++c) {
            double s = 0;
            for (int64_t i = 0; i < hw; ++i) {
              double v = in[n * stride + c * hw + i];
              if (prologue) v = std::max(v * scale[c] + shift[c], 0.0);
              s += v;
            }
            want[n * channels + c] = static_cast<float>(s / hw);
          }
        EXPECT_LT(test::normalized_error(out.data(), want.data(), batch * channels, 1e-6, "gap"),
                  1e-6);
      }
    }
  }
}

}  // namespace
}  // namespace dice
