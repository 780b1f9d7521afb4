// head_cpu and its building blocks against double references. The logits are specified as a
// double dot product in feature order, plus the bias, rounded once to float (see head_cpu.cpp), so
// they are compared exactly; energy, MSP and softmax are compared with a double logsumexp. Also:
// the DICE mask, the ReAct clip, argmax ties (first index wins), null outputs, and numerically
// extreme logits.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "kernels/head.h"
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

struct Ref {
  std::vector<float> logits;
  std::vector<double> energy, msp;
  std::vector<int32_t> argmax;
};

Ref reference(const HeadParams& p, const float* h, const float* w, const float* b,
              const uint8_t* m) {
  Ref r;
  for (int64_t n = 0; n < p.batch; ++n) {
    std::vector<float> l(static_cast<size_t>(p.classes));
    for (int64_t c = 0; c < p.classes; ++c) {
      double acc = 0;
      for (int64_t d = 0; d < p.in_features; ++d) {
        if (m && !m[c * p.in_features + d]) continue;
        acc += static_cast<double>(w[c * p.in_features + d]) *
               std::min(h[n * p.in_features + d], p.clip);
      }
      if (b) acc += b[c];
      l[c] = static_cast<float>(acc);
    }
    double mx = -INFINITY;
    int32_t am = 0;
    for (int64_t c = 0; c < p.classes; ++c)
      if (l[c] > mx) mx = l[c], am = static_cast<int32_t>(c);
    double s = 0;
    for (float v : l) s += std::exp(v - mx);
    r.logits.insert(r.logits.end(), l.begin(), l.end());
    r.energy.push_back(mx + std::log(s));
    r.msp.push_back(1.0 / s);
    r.argmax.push_back(am);
  }
  return r;
}

struct HeadCase {
  int64_t batch, features, classes;
  bool mask, bias;
  float clip;
};

class HeadCpu : public ::testing::TestWithParam<HeadCase> {};

TEST_P(HeadCpu, MatchesDoubleReference) {
  const HeadCase& hc = GetParam();
  HeadParams p;
  p.batch = hc.batch, p.in_features = hc.features, p.classes = hc.classes, p.clip = hc.clip;
  const auto h = random_vector(p.batch * p.in_features, 1, 0, 3);  // post-ReLU features
  const auto w = random_vector(p.classes * p.in_features, 2, -0.2f, 0.2f);
  const auto b = random_vector(p.classes, 3, -1, 1);
  std::vector<uint8_t> mask(static_cast<size_t>(p.classes * p.in_features));
  std::mt19937 rng(4);
  for (auto& v : mask) v = rng() % 10 < 3;  // keep 30%, as DICE with p = 70
  const uint8_t* m = hc.mask ? mask.data() : nullptr;
  const float* bp = hc.bias ? b.data() : nullptr;

  std::vector<float> logits(static_cast<size_t>(p.batch * p.classes)), energy(p.batch),
      msp(p.batch);
  std::vector<int32_t> argmax(p.batch);
  head_cpu(p, h.data(), w.data(), bp, m, {logits.data(), energy.data(), msp.data(), argmax.data()});
  const Ref r = reference(p, h.data(), w.data(), bp, m);

  EXPECT_EQ(logits, r.logits);  // exact by specification
  for (int64_t n = 0; n < p.batch; ++n) {
    EXPECT_NEAR(energy[n], r.energy[n], 1e-6 * std::max(1.0, std::fabs(r.energy[n]))) << n;
    EXPECT_NEAR(msp[n], r.msp[n], 1e-6) << n;
    EXPECT_EQ(argmax[n], r.argmax[n]) << n;
  }

  // Any output may be left out.
  std::vector<float> energy_only(p.batch);
  head_cpu(p, h.data(), w.data(), bp, m, {nullptr, energy_only.data(), nullptr, nullptr});
  EXPECT_EQ(energy_only, energy);
}

INSTANTIATE_TEST_SUITE_P(Cases, HeadCpu,
                         ::testing::Values(HeadCase{5, 342, 10, false, true, INFINITY},
                                           HeadCase{5, 342, 100, true, true, INFINITY},
                                           HeadCase{3, 2048, 1000, true, true, 1.0f},
                                           HeadCase{3, 2048, 1000, false, true, 1.5f},
                                           HeadCase{4, 7, 3, true, false, 0.5f},
                                           HeadCase{1, 1, 1, false, false, INFINITY}));

TEST(HeadCpu, ClipAndMaskActAsDocumented) {
  // One feature, two classes: logits = W * min(h, clip) (masked) + b.
  HeadParams p;
  p.batch = 1, p.in_features = 2, p.classes = 2, p.clip = 1.0f;
  const float h[2] = {3.0f, 0.5f};
  const float w[4] = {1.0f, 2.0f, 4.0f, 8.0f};
  const float b[2] = {0.25f, -0.25f};
  const uint8_t mask[4] = {1, 0, 0, 1};
  float logits[2];
  head_cpu(p, h, w, b, mask, {logits, nullptr, nullptr, nullptr});
  EXPECT_EQ(logits[0], 1.0f * 1.0f + 0.25f);  // h0 clipped to 1, w01 masked
  EXPECT_EQ(logits[1], 8.0f * 0.5f - 0.25f);  // w10 masked
  const uint8_t none[4] = {0, 0, 0, 0};
  head_cpu(p, h, w, b, none, {logits, nullptr, nullptr, nullptr});
  EXPECT_EQ(logits[0], 0.25f);
  EXPECT_EQ(logits[1], -0.25f);
}

TEST(HeadCpu, ArgmaxTiesGoToTheFirstIndex) {
  HeadParams p;
  p.batch = 2, p.in_features = 3, p.classes = 6;
  const float h[6] = {1, 2, 3, 0, 0, 0};
  std::vector<float> w(18, 0.1f);
  for (int d = 0; d < 3; ++d) w[2 * 3 + d] = w[5 * 3 + d] = 1.0f;  // classes 2 and 5 tie on top
  int32_t argmax[2];
  float msp[2];
  head_cpu(p, h, w.data(), nullptr, nullptr, {nullptr, nullptr, msp, argmax});
  EXPECT_EQ(argmax[0], 2);
  EXPECT_EQ(argmax[1], 0);  // all logits 0: the first class
  EXPECT_NEAR(msp[1], 1.0 / 6.0, 1e-7);
}

TEST(LogsumexpCpu, StableAndAccurate) {
  const int64_t B = 4, C = 7;
  std::vector<float> l = random_vector(B * C, 9, -5, 5);
  for (int c = 0; c < C; ++c) l[1 * C + c] += 1000.0f;  // would overflow exp() unshifted
  for (int c = 0; c < C; ++c) l[2 * C + c] -= 1000.0f;  // would underflow to log(0)
  l[3 * C + 4] = 80.0f;
  std::vector<float> e(B);
  logsumexp_cpu(B, C, l.data(), e.data());
  for (int64_t n = 0; n < B; ++n) {
    double mx = -INFINITY, s = 0;
    for (int c = 0; c < C; ++c) mx = std::max(mx, static_cast<double>(l[n * C + c]));
    for (int c = 0; c < C; ++c) s += std::exp(l[n * C + c] - mx);
    const double want = mx + std::log(s);
    ASSERT_TRUE(std::isfinite(e[n]));
    EXPECT_NEAR(e[n], want, 1e-6 * std::max(1.0, std::fabs(want))) << n;
  }
}

TEST(SoftmaxCpu, MatchesReferenceAndSumsToOne) {
  const int64_t B = 3, C = 100;
  std::vector<float> l = random_vector(B * C, 10, -8, 8);
  for (int c = 0; c < C; ++c) l[2 * C + c] += 500.0f;
  std::vector<float> s(B * C);
  softmax_cpu(B, C, l.data(), s.data());
  for (int64_t n = 0; n < B; ++n) {
    double mx = -INFINITY, z = 0, total = 0;
    for (int c = 0; c < C; ++c) mx = std::max(mx, static_cast<double>(l[n * C + c]));
    for (int c = 0; c < C; ++c) z += std::exp(l[n * C + c] - mx);
    for (int c = 0; c < C; ++c) {
      EXPECT_NEAR(s[n * C + c], std::exp(l[n * C + c] - mx) / z, 1e-7);
      total += s[n * C + c];
    }
    EXPECT_NEAR(total, 1.0, 1e-5);
  }
}

}  // namespace
}  // namespace dice
