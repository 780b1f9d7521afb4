// head_cuda against head_cpu: DenseNet heads (342 features, 10 and 100 classes) with and without
// a DICE mask and a ReAct clip, a ResNet-50 head (2048 -> 1000), odd sizes, ties in the argmax
// (the first index must win), and null outputs (nothing may be written through them). Outputs are
// NaN-poisoned (argmax: -1) before each run. Skipped without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "cuda_test_util.h"
#include "gpu/cuda_check.h"
#include "gpu/cuda_memory.h"
#include "kernels/head.h"
#include "kernels/head_cuda.h"
#include "test_util.h"

namespace dice {
namespace {

using test::random_vector;

struct HeadCase {
  const char* name;
  int64_t batch, in_features, classes;
  bool masked;
  float clip;
};

void PrintTo(const HeadCase& c, std::ostream* os) { *os << c.name; }

constexpr float kInf = std::numeric_limits<float>::infinity();
const HeadCase kCases[] = {
    {"densenet_c10_energy", 7, 342, 10, false, kInf},
    {"densenet_c10_dice", 7, 342, 10, true, kInf},
    {"densenet_c100_dice", 5, 342, 100, true, kInf},
    {"resnet_dice_react", 3, 2048, 1000, true, 1.0f},
    {"odd_small", 2, 5, 3, true, 0.5f},
    {"odd_single", 1, 1, 1, false, kInf},
    {"odd_33_classes", 4, 65, 33, false, 0.3f},
};

struct Results {
  std::vector<float> logits, energy, msp;
  std::vector<int32_t> argmax;
};

// Runs head_cuda with poisoned outputs and brings everything back.
Results run_cuda(const HeadParams& p, const std::vector<float>& features,
                 const std::vector<float>& weight, const std::vector<float>& bias,
                 const std::vector<uint8_t>* mask) {
  DeviceBuffer<float> d_features(features), d_weight(weight), d_bias(bias);
  DeviceBuffer<uint8_t> d_mask(mask ? *mask : std::vector<uint8_t>{});
  DeviceBuffer<float> d_logits(p.batch * p.classes), d_energy(p.batch), d_msp(p.batch);
  DeviceBuffer<int32_t> d_argmax(p.batch);
  d_logits.poison();
  d_energy.poison();
  d_msp.poison();
  d_argmax.poison();  // 0xFFFFFFFF = -1
  HeadOutputs out{d_logits.data(), d_energy.data(), d_msp.data(), d_argmax.data()};
  head_cuda(p, d_features.data(), d_weight.data(), d_bias.data(), mask ? d_mask.data() : nullptr,
            out);
  DICE_CUDA_CHECK(cudaDeviceSynchronize());
  return {d_logits.download(), d_energy.download(), d_msp.download(), d_argmax.download()};
}

Results run_cpu(const HeadParams& p, const std::vector<float>& features,
                const std::vector<float>& weight, const std::vector<float>& bias,
                const std::vector<uint8_t>* mask) {
  Results r;
  r.logits.resize(static_cast<size_t>(p.batch * p.classes));
  r.energy.resize(static_cast<size_t>(p.batch));
  r.msp.resize(static_cast<size_t>(p.batch));
  r.argmax.resize(static_cast<size_t>(p.batch));
  HeadOutputs out{r.logits.data(), r.energy.data(), r.msp.data(), r.argmax.data()};
  head_cpu(p, features.data(), weight.data(), bias.data(), mask ? mask->data() : nullptr, out);
  return r;
}

void expect_match(const HeadParams& p, const Results& got, const Results& ref, const char* name) {
  EXPECT_LT(test::normalized_error(got.logits.data(), ref.logits.data(), p.batch * p.classes, 1e-5,
                                   "logits"),
            1e-5)
      << name;
  EXPECT_LT(test::normalized_error(got.energy.data(), ref.energy.data(), p.batch, 1e-5, "energy"),
            1e-5)
      << name;
  EXPECT_LT(test::normalized_error(got.msp.data(), ref.msp.data(), p.batch, 1e-5, "msp"), 1e-5)
      << name;
  for (int64_t b = 0; b < p.batch; ++b) {
    const int32_t g = got.argmax[static_cast<size_t>(b)];
    const int32_t r = ref.argmax[static_cast<size_t>(b)];
    ASSERT_GE(g, 0) << name << ": argmax not written for sample " << b;
    ASSERT_LT(g, p.classes) << name;
    if (g != r) {  // only acceptable when the two logits are equal to within rounding
      const float* z = ref.logits.data() + b * p.classes;
      EXPECT_NEAR(z[g], z[r], 1e-5 * std::fabs(z[r]) + 1e-6)
          << name << ": argmax " << g << " vs " << r << " for sample " << b;
    }
  }
}

class HeadCuda : public ::testing::TestWithParam<HeadCase> {};

TEST_P(HeadCuda, MatchesCpu) {
  DICE_REQUIRE_GPU();
  const HeadCase& c = GetParam();
  HeadParams p;
  p.batch = c.batch;
  p.in_features = c.in_features;
  p.classes = c.classes;
  p.clip = c.clip;
  std::mt19937 rng(5);
  const auto features = random_vector(c.batch * c.in_features, rng, 0.0f, 2.0f);  // post-ReLU
  const auto weight = random_vector(c.classes * c.in_features, rng, -0.3f, 0.3f);
  const auto bias = random_vector(c.classes, rng, -0.2f, 0.2f);
  std::vector<uint8_t> mask(static_cast<size_t>(c.classes * c.in_features));
  std::bernoulli_distribution keep(0.1);  // DICE p = 90 keeps about 10%
  for (auto& m : mask) m = keep(rng) ? 1 : 0;
  const std::vector<uint8_t>* mp = c.masked ? &mask : nullptr;

  expect_match(p, run_cuda(p, features, weight, bias, mp), run_cpu(p, features, weight, bias, mp),
               c.name);
}

INSTANTIATE_TEST_SUITE_P(Shapes, HeadCuda, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<HeadCase>& info) {
                           return std::string(info.param.name);
                         });

// Zero weights make the logits equal the bias; equal maxima at 3, 7 and 40 must give 3.
TEST(HeadCudaTies, FirstIndexWins) {
  DICE_REQUIRE_GPU();
  HeadParams p;
  p.batch = 2, p.in_features = 4, p.classes = 50;
  std::vector<float> features(8, 1.0f), weight(50 * 4, 0.0f), bias(50, 0.0f);
  bias[3] = bias[7] = bias[40] = 2.5f;
  const Results got = run_cuda(p, features, weight, bias, nullptr);
  EXPECT_EQ(got.argmax[0], 3);
  EXPECT_EQ(got.argmax[1], 3);
  expect_match(p, got, run_cpu(p, features, weight, bias, nullptr), "ties");
}

// NaN logits (a NaN bias): the argmax must be head_cpu's, i.e. the first largest number when z[0]
// is a number (a NaN in another lane's stride must not hide it), and 0 when z[0] is NaN; energy
// and msp are NaN in both cases, as on the CPU. Sample 0: NaN at 5 and max at 37 (both in lane
// 5's stride); sample 1: NaN at 0.
TEST(HeadCudaNaN, ArgmaxAndScoresMatchCpu) {
  DICE_REQUIRE_GPU();
  HeadParams p;
  p.batch = 1, p.in_features = 4, p.classes = 50;
  const std::vector<float> features(4, 1.0f), weight(50 * 4, 0.0f);
  for (int nan_at : {5, 0}) {
    SCOPED_TRACE("NaN at " + std::to_string(nan_at));
    std::vector<float> bias(50, 0.0f);
    bias[static_cast<size_t>(nan_at)] = std::nanf("");
    bias[37] = 3.0f;
    bias[40] = 2.0f;
    const Results got = run_cuda(p, features, weight, bias, nullptr);
    const Results ref = run_cpu(p, features, weight, bias, nullptr);
    EXPECT_EQ(ref.argmax[0], nan_at == 0 ? 0 : 37);  // the CPU semantics this test pins down
    EXPECT_EQ(got.argmax[0], ref.argmax[0]);
    EXPECT_TRUE(std::isnan(got.energy[0]) && std::isnan(ref.energy[0]));
    EXPECT_TRUE(std::isnan(got.msp[0]) && std::isnan(ref.msp[0]));
    for (int c = 0; c < 50; ++c) {
      if (c == nan_at)
        EXPECT_TRUE(std::isnan(got.logits[static_cast<size_t>(c)])) << c;
      else
        EXPECT_EQ(got.logits[static_cast<size_t>(c)], ref.logits[static_cast<size_t>(c)]) << c;
    }
  }
}

// Null outputs are skipped: only energy is asked for, and nothing else may be touched.
TEST(HeadCudaOutputs, NullOutputsAreNotWritten) {
  DICE_REQUIRE_GPU();
  HeadParams p;
  p.batch = 3, p.in_features = 6, p.classes = 4;
  std::mt19937 rng(11);
  const auto features = random_vector(18, rng, 0.0f, 1.0f);
  const auto weight = random_vector(24, rng, -1.0f, 1.0f);
  const auto bias = random_vector(4, rng, -1.0f, 1.0f);
  DeviceBuffer<float> d_features(features), d_weight(weight), d_energy(3);
  d_energy.poison();
  HeadOutputs out;
  out.energy = d_energy.data();
  head_cuda(p, d_features.data(), d_weight.data(), nullptr, nullptr, out);  // null bias = zeros
  DICE_CUDA_CHECK(cudaDeviceSynchronize());
  const auto got = d_energy.download();

  std::vector<float> zero_bias(4, 0.0f), ref(3);
  HeadOutputs cpu_out;
  cpu_out.energy = ref.data();
  head_cpu(p, features.data(), weight.data(), zero_bias.data(), nullptr, cpu_out);
  EXPECT_LT(test::normalized_error(got.data(), ref.data(), 3, 1e-5, "energy"), 1e-5);
}

TEST(HeadCudaArgs, RejectsBadShapes) {
  HeadParams p;
  p.batch = 1, p.in_features = 0, p.classes = 10;
  EXPECT_THROW(head_cuda(p, nullptr, nullptr, nullptr, nullptr, {}), Error);
  p.in_features = 20000;  // does not fit one block's shared memory
  EXPECT_THROW(head_cuda(p, nullptr, nullptr, nullptr, nullptr, {}), Error);
}

}  // namespace
}  // namespace dice
