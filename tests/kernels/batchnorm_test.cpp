// bn_fold against the double formula it documents, and batchnorm_cpu (the spec of every fused
// BN prologue/epilogue; CPU only) against a direct evaluation, in place and out of place, on the
// inputs of the global-pool cases of tests/op_cases.h (the DenseNet head's BN runs on exactly that
// tensor) and a small odd one.
#include "kernels/batchnorm.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "op_cases.h"
#include "random.h"
#include "test_util.h"

namespace dice {
namespace {

using test::random_floats;

TEST(BnFold, MatchesDoubleFormula) {
  const int64_t C = 97;
  const auto gamma = random_floats(C, 1, -2, 2), beta = random_floats(C, 2, -1, 1);
  const auto mean = random_floats(C, 3, -1, 1), var = random_floats(C, 4, 0, 3);
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

class BatchnormCpu : public ::testing::TestWithParam<test::GapCase> {};

TEST_P(BatchnormCpu, MatchesDirectEvaluation) {
  const test::GapCase& g = GetParam();
  const int64_t N = g.batch, C = g.channels, HW = g.hw;
  const uint64_t seed = test::seed_of(g.name);
  const auto x = random_floats(N * C * HW, seed + 1, -3, 3);
  const auto scale = random_floats(C, seed + 2, -2, 2), shift = random_floats(C, seed + 3, -1, 1);
  for (bool relu : {false, true}) {
    std::vector<float> y = test::poisoned(N * C * HW), want(x.size());
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

std::vector<test::GapCase> bn_cases() {
  std::vector<test::GapCase> v = test::gap_cases();
  v.push_back({"odd_3x13x35", test::Net::kOdd, 3, 13, 35, 13, 0});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Shapes, BatchnormCpu, ::testing::ValuesIn(bn_cases()),
                         [](const ::testing::TestParamInfo<test::GapCase>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace dice
