// bn_fold against the double formula it documents, and batchnorm_cpu (the spec of every fused
// BN prologue/epilogue) against a direct evaluation, in place and out of place.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/batchnorm.h"
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

TEST(BnFold, MatchesDoubleFormula) {
  const int64_t C = 97;
  const auto gamma = random_vector(C, 1, -2, 2), beta = random_vector(C, 2, -1, 1);
  const auto mean = random_vector(C, 3, -1, 1), var = random_vector(C, 4, 0, 3);
  for (double eps : {1e-5, 1e-3}) {
    const BnAffine bn = bn_fold(gamma.data(), beta.data(), mean.data(), var.data(), C, eps);
    ASSERT_EQ(bn.scale.size(), static_cast<size_t>(C));
    for (int64_t c = 0; c < C; ++c) {
      const double s = static_cast<double>(gamma[c]) / std::sqrt(static_cast<double>(var[c]) + eps);
      EXPECT_EQ(bn.scale[c], static_cast<float>(s)) << c;
      EXPECT_EQ(bn.shift[c], static_cast<float>(beta[c] - mean[c] * s)) << c;
    }
  }
}

TEST(BnFold, ZeroVarianceUsesEps) {
  const float g = 2, b = 0.5f, m = 1, v = 0;
  const BnAffine bn = bn_fold(&g, &b, &m, &v, 1, 1e-5);
  EXPECT_FLOAT_EQ(bn.scale[0], static_cast<float>(2 / std::sqrt(1e-5)));
  EXPECT_FLOAT_EQ(bn.shift[0], static_cast<float>(0.5 - 2 / std::sqrt(1e-5)));
}

TEST(BatchnormCpu, MatchesDirectEvaluation) {
  const int64_t N = 3, C = 13, HW = 35;
  const auto x = random_vector(N * C * HW, 5, -3, 3);
  const auto scale = random_vector(C, 6, -2, 2), shift = random_vector(C, 7, -1, 1);
  for (bool relu : {false, true}) {
    std::vector<float> y(x.size()), want(x.size());
    batchnorm_cpu(N, C, HW, x.data(), y.data(), scale.data(), shift.data(), relu);
    for (int64_t i = 0; i < N * C * HW; ++i) {
      const int64_t c = i / HW % C;
      double v = static_cast<double>(x[i]) * scale[c] + shift[c];
      want[i] = static_cast<float>(relu ? std::max(v, 0.0) : v);
    }
    EXPECT_LT(test::normalized_error(y.data(), want.data(), N * C * HW, 1e-6, "bn"), 1e-6);
    std::vector<float> inplace = x;
    batchnorm_cpu(N, C, HW, inplace.data(), inplace.data(), scale.data(), shift.data(), relu);
    EXPECT_EQ(inplace, y);
    if (relu) {
      EXPECT_GE(*std::min_element(y.begin(), y.end()), 0.0f);
    }
  }
}

}  // namespace
}  // namespace dice
