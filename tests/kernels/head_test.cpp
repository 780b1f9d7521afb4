// The classifier head: every implementation the build has (head_cpu; head_cuda) on the head cases
// of tests/op_cases.h, against a double reference. The logits are specified as a double dot
// product in feature order, plus the bias, rounded once to float (see head_cpu.cpp); energy and MSP
// come from a double logsumexp of those logits; argmax is the first largest logit.
//   cpu:  logits and argmax exact; energy within 1e-6 * max(1, |energy|), msp within 1e-6.
//   cuda: logits, energy and msp within 1e-5 (normalized error, and per sample as for the CPU);
//         an argmax may differ only between logits equal to within rounding.
// Outputs are poisoned first (NaN; argmax -1), so an unwritten one fails; then a second run asks
// for the energy only (any output may be null) and must give the same energies.
// Also: the ReAct clip and the DICE mask by hand, argmax ties (the first index wins) and NaN logits
// on both backends, null outputs and bias in CUDA, logsumexp and softmax on their own.
// One body; per-backend suites (HeadCpu, HeadCuda). CUDA cases skip without a GPU.
#include "kernels/head.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "op_cases.h"
#include "random.h"
#include "test_util.h"

#ifdef DICE_HAVE_CUDA
#include "gpu/cuda_memory.h"
#include "kernels/head_cuda.h"
#endif

namespace dice {
namespace {

using test::HeadCase;

struct Results {
  std::vector<float> logits, energy, msp;
  std::vector<int32_t> argmax;
};

// The reference: logits as specified, energy and msp in double.
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
      l[static_cast<size_t>(c)] = static_cast<float>(acc);
    }
    double mx = -INFINITY;
    int32_t am = 0;
    for (int64_t c = 0; c < p.classes; ++c)
      if (l[static_cast<size_t>(c)] > mx)
        mx = l[static_cast<size_t>(c)], am = static_cast<int32_t>(c);
    double s = 0;
    for (float v : l) s += std::exp(v - mx);
    r.logits.insert(r.logits.end(), l.begin(), l.end());
    r.energy.push_back(mx + std::log(s));
    r.msp.push_back(1.0 / s);
    r.argmax.push_back(am);
  }
  return r;
}

struct HeadImpl {
  const char* name;
  bool cuda;
  double tol;  // 0 on the CPU: logits and argmax exact
};

const HeadImpl kCpu{"cpu", false, 0};
const HeadImpl kCuda{"cuda", true, 1e-5};

// Runs one implementation with poisoned outputs; `all` false asks for the energy only.
Results run_head(const HeadImpl& impl, const HeadParams& p, const std::vector<float>& features,
                 const std::vector<float>& weight, const float* bias, const uint8_t* mask,
                 bool all = true) {
  Results r;
  r.logits = test::poisoned(all ? p.batch * p.classes : 0);
  r.energy = test::poisoned(p.batch);
  r.msp = test::poisoned(all ? p.batch : 0);
  r.argmax.assign(static_cast<size_t>(all ? p.batch : 0), -1);
  if (!impl.cuda) {
    HeadOutputs out{r.logits.data(), r.energy.data(), r.msp.data(), r.argmax.data()};
    if (!all) out = {nullptr, r.energy.data(), nullptr, nullptr};
    head_cpu(p, features.data(), weight.data(), bias, mask, out);
    return r;
  }
#ifdef DICE_HAVE_CUDA
  DeviceBuffer<float> d_features(features), d_weight(weight), d_logits(r.logits),
      d_energy(r.energy), d_msp(r.msp);
  DeviceBuffer<int32_t> d_argmax(r.argmax);
  DeviceBuffer<float> d_bias(bias ? std::vector<float>(bias, bias + p.classes)
                                  : std::vector<float>{});
  DeviceBuffer<uint8_t> d_mask(mask ? std::vector<uint8_t>(mask, mask + p.classes * p.in_features)
                                    : std::vector<uint8_t>{});
  HeadOutputs out{d_logits.data(), d_energy.data(), d_msp.data(), d_argmax.data()};
  if (!all) out = {nullptr, d_energy.data(), nullptr, nullptr};
  head_cuda(p, d_features.data(), d_weight.data(), bias ? d_bias.data() : nullptr,
            mask ? d_mask.data() : nullptr, out);
  DICE_CUDA_CHECK(cudaDeviceSynchronize());
  return {d_logits.download(), d_energy.download(), d_msp.download(), d_argmax.download()};
#else
  return r;
#endif
}

void expect_matches(const HeadImpl& impl, const HeadParams& p, const Results& got, const Ref& ref,
                    const std::string& name) {
  SCOPED_TRACE(name + " " + impl.name);
  const double tol = impl.tol ? impl.tol : 1e-6;
  if (impl.tol == 0) {
    EXPECT_EQ(got.logits, ref.logits);  // exact by specification
  } else {
    EXPECT_LT(test::normalized_error(got.logits.data(), ref.logits.data(), p.batch * p.classes, tol,
                                     "logits"),
              tol);
  }
  const std::vector<float> energy(ref.energy.begin(), ref.energy.end());
  const std::vector<float> msp(ref.msp.begin(), ref.msp.end());
  EXPECT_LT(test::normalized_error(got.energy.data(), energy.data(), p.batch, tol, "energy"), tol);
  EXPECT_LT(test::normalized_error(got.msp.data(), msp.data(), p.batch, tol, "msp"), tol);
  for (int64_t n = 0; n < p.batch; ++n) {
    const size_t i = static_cast<size_t>(n);
    EXPECT_NEAR(got.energy[i], ref.energy[i], tol * std::max(1.0, std::fabs(ref.energy[i]))) << n;
    EXPECT_NEAR(got.msp[i], ref.msp[i], tol) << n;
    const int32_t g = got.argmax[i], r = ref.argmax[i];
    ASSERT_GE(g, 0) << "argmax not written for sample " << n;
    ASSERT_LT(g, p.classes);
    if (impl.tol == 0 || g == r) {
      EXPECT_EQ(g, r) << n;
    } else {  // only acceptable when the two logits are equal to within rounding
      const float* z = ref.logits.data() + n * p.classes;
      EXPECT_NEAR(z[g], z[r], 1e-5 * std::fabs(z[r]) + 1e-6)
          << "argmax " << g << " vs " << r << " for sample " << n;
    }
  }
}

using HeadRun = test::OpRun<HeadCase, HeadImpl>;

void check_head(const HeadRun& r) {
  if (r.impl.cuda) DICE_REQUIRE_GPU();
  const HeadCase& c = r.c;
  HeadParams p;
  p.batch = c.batch, p.in_features = c.features, p.classes = c.classes, p.clip = c.clip;
  const uint64_t seed = test::seed_of(c.name);
  const auto h = test::random_floats(p.batch * p.in_features, seed + 1, 0, 3);  // post-ReLU
  const auto w = test::random_floats(p.classes * p.in_features, seed + 2, -0.2f, 0.2f);
  const auto b = test::random_floats(p.classes, seed + 3, -1, 1);
  const auto mask = test::random_mask(p.classes * p.in_features, seed + 4, c.mask_keep);
  const uint8_t* m = c.mask_keep > 0 ? mask.data() : nullptr;
  const float* bp = c.bias ? b.data() : nullptr;

  const Results got = run_head(r.impl, p, h, w, bp, m);
  expect_matches(r.impl, p, got, reference(p, h.data(), w.data(), bp, m), c.name);
  // Any output may be left out.
  EXPECT_EQ(run_head(r.impl, p, h, w, bp, m, /*all=*/false).energy, got.energy);
}

class HeadTest : public ::testing::TestWithParam<HeadRun> {};

DICE_OP_TEST(HeadCpu, HeadTest, MatchesReference, check_head, test::head_cases(),
             (std::vector<HeadImpl>{kCpu}));

#ifdef DICE_HAVE_CUDA
DICE_OP_TEST(HeadCuda, HeadTest, MatchesReference, check_head, test::head_cases(),
             (std::vector<HeadImpl>{kCuda}));
#endif

// Zero weights make the logits equal the bias; equal maxima at 3, 7 and 40 must give 3.
void check_ties(const HeadImpl& impl) {
  HeadParams p;
  p.batch = 2, p.in_features = 4, p.classes = 50;
  std::vector<float> features(8, 1.0f), weight(50 * 4, 0.0f), bias(50, 0.0f);
  bias[3] = bias[7] = bias[40] = 2.5f;
  const Results got = run_head(impl, p, features, weight, bias.data(), nullptr);
  EXPECT_EQ(got.argmax[0], 3);
  EXPECT_EQ(got.argmax[1], 3);
  expect_matches(impl, p, got, reference(p, features.data(), weight.data(), bias.data(), nullptr),
                 "ties");
}

// NaN logits (a NaN bias): the argmax is the first largest number when z[0] is a number (a NaN in
// another lane's stride must not hide it in CUDA), and 0 when z[0] is NaN; energy and msp are
// NaN. First run: NaN at 5 and the max at 37 (both in lane 5's stride); second: NaN at 0.
void check_nan(const HeadImpl& impl) {
  HeadParams p;
  p.batch = 1, p.in_features = 4, p.classes = 50;
  const std::vector<float> features(4, 1.0f), weight(50 * 4, 0.0f);
  for (int nan_at : {5, 0}) {
    SCOPED_TRACE("NaN at " + std::to_string(nan_at));
    std::vector<float> bias(50, 0.0f);
    bias[static_cast<size_t>(nan_at)] = std::nanf("");
    bias[37] = 3.0f;
    bias[40] = 2.0f;
    const Results got = run_head(impl, p, features, weight, bias.data(), nullptr);
    EXPECT_EQ(got.argmax[0], nan_at == 0 ? 0 : 37);
    EXPECT_TRUE(std::isnan(got.energy[0]));
    EXPECT_TRUE(std::isnan(got.msp[0]));
    for (int c = 0; c < 50; ++c) {
      if (c == nan_at)
        EXPECT_TRUE(std::isnan(got.logits[static_cast<size_t>(c)])) << c;
      else
        EXPECT_EQ(got.logits[static_cast<size_t>(c)], bias[static_cast<size_t>(c)]) << c;
    }
  }
}

TEST(HeadCpuTies, FirstIndexWins) { check_ties(kCpu); }
TEST(HeadCpuNaN, ArgmaxAndScores) { check_nan(kCpu); }

#ifdef DICE_HAVE_CUDA
TEST(HeadCudaTies, FirstIndexWins) {
  DICE_REQUIRE_GPU();
  check_ties(kCuda);
}
TEST(HeadCudaNaN, ArgmaxAndScoresMatchCpu) {
  DICE_REQUIRE_GPU();
  check_nan(kCuda);
}

// Null outputs are skipped: only energy is asked for, with a null bias (zeros).
TEST(HeadCudaOutputs, NullOutputsAreNotWritten) {
  DICE_REQUIRE_GPU();
  HeadParams p;
  p.batch = 3, p.in_features = 6, p.classes = 4;
  const auto features = test::random_floats(18, 11, 0.0f, 1.0f);
  const auto weight = test::random_floats(24, 12, -1.0f, 1.0f);
  const Results got = run_head(kCuda, p, features, weight, nullptr, nullptr, /*all=*/false);
  const Ref ref = reference(p, features.data(), weight.data(), nullptr, nullptr);
  const std::vector<float> want(ref.energy.begin(), ref.energy.end());
  EXPECT_LT(test::normalized_error(got.energy.data(), want.data(), 3, 1e-5, "energy"), 1e-5);
}

TEST(HeadCudaArgs, RejectsBadShapes) {
  HeadParams p;
  p.batch = 1, p.in_features = 0, p.classes = 10;
  EXPECT_THROW(head_cuda(p, nullptr, nullptr, nullptr, nullptr, {}), Error);
  p.in_features = 20000;  // does not fit one block's shared memory
  EXPECT_THROW(head_cuda(p, nullptr, nullptr, nullptr, nullptr, {}), Error);
}
#endif

TEST(HeadCpu, ClipAndMaskActAsDocumented) {
  // Two features, two classes: logits = W * min(h, clip) (masked) + b.
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
  std::vector<float> l = test::random_floats(B * C, 9, -5, 5);
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
  std::vector<float> l = test::random_floats(B * C, 10, -8, 8);
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
