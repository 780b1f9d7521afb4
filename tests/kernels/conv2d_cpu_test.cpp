// conv2d_cpu against conv2d_naive (the spec), on every instruction-set path this CPU can run
// (scalar fallback, AVX2, AVX-512: forced one at a time through force_cpu_isa).
// Shapes: the real DenseNet-BC-100 layers and every distinct ResNet-50 conv (the shared table in
// kernels/conv_shapes.h) at batch 1-2, and odd sizes that cut every tile boundary (channels
// 1/3/5/13, out_channels not a multiple of the micro-tile rows, pixels not a multiple of the vector
// width, 1x1 spatial, 5x7, odd strided sizes, kernel 2/5/7, pads). Small shapes run all 32 fusion
// combinations; the large ones the combinations their network uses.
// Every case reads a channel slice of a wider input and writes a channel slice of a wider,
// NaN-poisoned output (and residual), then checks the slice (normalized error < 1e-5) and that
// everything outside it still holds the poison.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/parallel.h"
#include "kernels/conv2d.h"
#include "kernels/conv_shapes.h"
#include "kernels/gemm_cpu.h"
#include "test_util.h"

namespace dice {
namespace {

struct ConvShape {
  std::string name;
  int64_t batch, in_channels, height, width, out_channels, kernel, stride, pad;
  bool all_fusions;  // false: only the fusion sets the network (dn_ / rn_ prefix) uses
};

// Fusion bits.
constexpr int kInBn = 1, kBias = 2, kOutBn = 4, kResidual = 8, kRelu = 16;

const ConvShape kOwnShapes[] = {
    // DenseNet-BC-100 (k=12) layers
    {"dn_stem_3x3_3to24_32", 2, 3, 32, 32, 24, 3, 1, 1, true},
    {"dn_b1_1x1_120to48_32", 2, 120, 32, 32, 48, 1, 1, 0, false},
    {"dn_b1_1x1_24to48_32", 2, 24, 32, 32, 48, 1, 1, 0, false},
    {"dn_b1_3x3_48to12_32", 2, 48, 32, 32, 12, 3, 1, 1, false},
    {"dn_b2_1x1_288to48_16", 2, 288, 16, 16, 48, 1, 1, 0, false},
    {"dn_b2_3x3_48to12_16", 2, 48, 16, 16, 12, 3, 1, 1, false},
    {"dn_b3_1x1_330to48_8", 1, 330, 8, 8, 48, 1, 1, 0, true},
    {"dn_b3_3x3_48to12_8", 2, 48, 8, 8, 12, 3, 1, 1, true},
    {"dn_trans1_1x1_216to108_16", 2, 216, 16, 16, 108, 1, 1, 0, false},
    {"dn_trans2_1x1_300to150_8", 2, 300, 8, 8, 150, 1, 1, 0, false},
    // odd sizes
    {"odd_1x1_c1_m1_s1x1", 1, 1, 1, 1, 1, 1, 1, 0, true},
    {"odd_1x1_c13_m7_s1x1", 3, 13, 1, 1, 7, 1, 1, 0, true},
    {"odd_3x3p1_on_1x1", 2, 3, 1, 1, 5, 3, 1, 1, true},
    {"odd_3x3p1_c5_m13_5x7", 2, 5, 5, 7, 13, 3, 1, 1, true},
    {"odd_3x3s2p1_c13_m5_5x7", 2, 13, 5, 7, 5, 3, 2, 1, true},
    {"odd_3x3s2p1_c3_m13_9x11", 3, 3, 9, 11, 13, 3, 2, 1, true},
    {"odd_7x7s2p3_c3_m1_7x5", 1, 3, 7, 5, 1, 7, 2, 3, true},
    {"odd_7x7s2p3_c5_m13_15x13", 2, 5, 15, 13, 13, 7, 2, 3, true},
    {"odd_1x1s2_c5_m3_9x11", 2, 5, 9, 11, 3, 1, 2, 0, true},
    {"odd_1x1p1_c5_m13_6x6", 2, 5, 6, 6, 13, 1, 1, 1, true},
    {"odd_5x5p2_c3_m13_5x7", 1, 3, 5, 7, 13, 5, 1, 2, true},
    {"odd_3x3p0_c13_m70_33x33", 1, 13, 33, 33, 70, 3, 1, 0, true},
    {"odd_2x2s2_c5_m3_4x4", 2, 5, 4, 4, 3, 2, 2, 0, true},
    {"odd_3x3p1_c7_m37_13x13_b5", 5, 7, 13, 13, 37, 3, 1, 1, true},
    {"odd_1x1_c37_m49_17x3_b5", 5, 37, 17, 3, 49, 1, 1, 0, true},
    {"odd_3x3s1p2_c5_m13_3x3", 2, 5, 3, 3, 13, 3, 1, 2, true},
};

// Ours plus every distinct ResNet-50 convolution of the shared table (kernels/conv_shapes.h), at
// batch 1 (batch 2 for the 7x7 ones, so the image loop is exercised too).
std::vector<ConvShape> all_shapes() {
  std::vector<ConvShape> v(std::begin(kOwnShapes), std::end(kOwnShapes));
  for (const ConvShape2d& r : kResNet50ConvShapes)
    v.push_back({std::string("rn_") + r.name, r.height == 7 ? 2 : 1, r.in_channels, r.height,
                 r.width, r.out_channels, r.kernel, r.stride, r.pad, false});
  return v;
}

std::vector<int> fusion_sets(const ConvShape& s) {
  std::vector<int> sets;
  if (s.all_fusions) {
    for (int f = 0; f < 32; ++f) sets.push_back(f);
  } else if (s.name[0] == 'd') {
    sets = {0,                        // plain (stem, 3x3, transition)
            kInBn | kOutBn | kRelu};  // bottleneck 1x1: bn1+relu prologue, bn2+relu epilogue
  } else {
    sets = {kOutBn | kResidual | kRelu};  // conv + bn (+ shortcut) + relu
  }
  return sets;
}

std::vector<float> random_vector(int64_t n, std::mt19937& rng, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

std::string fusion_name(int f) {
  std::string s;
  if (f & kInBn) s += "in_bn+";
  if (f & kBias) s += "bias+";
  if (f & kOutBn) s += "out_bn+";
  if (f & kResidual) s += "residual+";
  if (f & kRelu) s += "relu+";
  return s.empty() ? "none" : s.substr(0, s.size() - 1);
}

// Restores the ISA cap on scope exit.
class IsaGuard {
 public:
  explicit IsaGuard(CpuIsa isa) : old_(force_cpu_isa(isa)) {}
  ~IsaGuard() { force_cpu_isa(old_); }

 private:
  CpuIsa old_;
};

// The input is channels [1, 1+C) of a (C+3)-channel buffer; the output channels [2, 2+M) of an
// (M+5)-channel buffer; the residual, laid out like the output, likewise.
void check_shape(const ConvShape& s, CpuIsa isa) {
  if (!cpu_isa_supported(isa)) GTEST_SKIP() << cpu_isa_name(isa) << " not supported by this CPU";
  IsaGuard guard(isa);
  ASSERT_EQ(cpu_isa().isa, isa);

  Conv2dParams p;
  p.batch = s.batch, p.in_channels = s.in_channels, p.height = s.height, p.width = s.width;
  p.out_channels = s.out_channels, p.kernel = s.kernel, p.stride = s.stride, p.pad = s.pad;
  const int64_t hw = s.height * s.width, ohw = p.out_height() * p.out_width();
  p.in_batch_stride = (s.in_channels + 3) * hw;
  p.out_batch_stride = (s.out_channels + 5) * ohw;
  const int64_t in_off = hw, out_off = 2 * ohw;

  std::mt19937 rng(static_cast<uint32_t>(s.batch * 7919 + s.in_channels * 131 +
                                         s.out_channels * 17 + s.kernel * 3 + s.height));
  const std::vector<float> input = random_vector(s.batch * p.in_batch_stride, rng, -1.0f, 1.0f);
  const float wscale = 1.0f / std::sqrt(static_cast<float>(s.in_channels * s.kernel * s.kernel));
  const std::vector<float> weight =
      random_vector(s.out_channels * s.in_channels * s.kernel * s.kernel, rng, -wscale, wscale);
  const std::vector<float> in_scale = random_vector(s.in_channels, rng, -1.5f, 1.5f);
  const std::vector<float> in_shift = random_vector(s.in_channels, rng, -0.5f, 0.5f);
  const std::vector<float> bias = random_vector(s.out_channels, rng, -0.5f, 0.5f);
  const std::vector<float> out_scale = random_vector(s.out_channels, rng, -1.5f, 1.5f);
  const std::vector<float> out_shift = random_vector(s.out_channels, rng, -0.5f, 0.5f);
  const std::vector<float> residual = random_vector(s.batch * p.out_batch_stride, rng, -1.0f, 1.0f);

  const float nan = std::numeric_limits<float>::quiet_NaN();
  const int64_t out_size = s.batch * p.out_batch_stride;
  for (int fs : fusion_sets(s)) {
    SCOPED_TRACE(s.name + " isa=" + cpu_isa_name(isa) + " fusion=" + fusion_name(fs));
    ConvFusion f;
    if (fs & kInBn) f.in_scale = in_scale.data(), f.in_shift = in_shift.data();
    if (fs & kBias) f.bias = bias.data();
    if (fs & kOutBn) f.out_scale = out_scale.data(), f.out_shift = out_shift.data();
    if (fs & kResidual) f.residual = residual.data() + out_off;
    f.out_relu = (fs & kRelu) != 0;

    // The spec's result does not depend on the ISA under test: compute it once per case.
    static std::map<std::string, std::vector<float>> cache;
    std::vector<float>& want = cache[s.name + "/" + std::to_string(fs)];
    if (want.empty()) {
      want.assign(static_cast<size_t>(out_size), nan);
      conv2d_naive(p, input.data() + in_off, weight.data(), want.data() + out_off, f);
    }
    std::vector<float> got(static_cast<size_t>(out_size), nan);
    conv2d_cpu(p, input.data() + in_off, weight.data(), got.data() + out_off, f);

    std::vector<float> a, b;
    int64_t clobbered = 0;
    for (int64_t n = 0; n < s.batch; ++n) {
      for (int64_t i = 0; i < p.out_batch_stride; ++i) {
        const int64_t idx = n * p.out_batch_stride + i;
        if (i >= out_off && i < out_off + s.out_channels * ohw) {
          a.push_back(got[idx]);
          b.push_back(want[idx]);
        } else if (!std::isnan(got[idx])) {
          ++clobbered;
        }
      }
    }
    EXPECT_EQ(clobbered, 0) << "elements outside the output slice were written";
    const double err = test::normalized_error(a.data(), b.data(), static_cast<int64_t>(a.size()),
                                              1e-5, s.name.c_str());
    EXPECT_LT(err, 1e-5);
  }
}

class Conv2dCpu : public ::testing::TestWithParam<std::tuple<ConvShape, CpuIsa>> {};

TEST_P(Conv2dCpu, MatchesNaive) { check_shape(std::get<0>(GetParam()), std::get<1>(GetParam())); }

INSTANTIATE_TEST_SUITE_P(Shapes, Conv2dCpu,
                         ::testing::Combine(::testing::ValuesIn(all_shapes()),
                                            ::testing::Values(CpuIsa::kScalar, CpuIsa::kAvx2,
                                                              CpuIsa::kAvx512)),
                         [](const ::testing::TestParamInfo<std::tuple<ConvShape, CpuIsa>>& info) {
                           return std::get<0>(info.param).name + "_" +
                                  cpu_isa_name(std::get<1>(info.param));
                         });

// Thread count changes the tiling (few images are cut into more tiles): results must not change.
TEST(Conv2dCpuThreads, SameResultForOneAndTwoThreads) {
  Conv2dParams p;
  p.batch = 1, p.in_channels = 48, p.height = 32, p.width = 32, p.out_channels = 12;
  p.kernel = 3, p.pad = 1;
  std::mt19937 rng(3);
  const auto x = random_vector(48 * 32 * 32, rng, -1, 1);
  const auto w = random_vector(12 * 48 * 9, rng, -0.1f, 0.1f);
  std::vector<float> y1(12 * 32 * 32), y2(12 * 32 * 32);
  const int old = num_threads();
  set_num_threads(1);
  conv2d_cpu(p, x.data(), w.data(), y1.data());
  set_num_threads(2);
  conv2d_cpu(p, x.data(), w.data(), y2.data());
  set_num_threads(old);
  EXPECT_EQ(y1, y2);
}

TEST(Conv2dCpuIsa, ForcingSelectsThePathAndFallsBack) {
  {
    IsaGuard g(CpuIsa::kScalar);
    EXPECT_EQ(cpu_isa().isa, CpuIsa::kScalar);
  }
  {
    IsaGuard g(CpuIsa::kAvx512);
    const CpuIsa best = cpu_isa_supported(CpuIsa::kAvx512) ? CpuIsa::kAvx512
                        : cpu_isa_supported(CpuIsa::kAvx2) ? CpuIsa::kAvx2
                                                           : CpuIsa::kScalar;
    EXPECT_EQ(cpu_isa().isa, best);
    std::printf("  best CPU path here: %s\n", cpu_isa_name(best));
  }
  EXPECT_TRUE(cpu_isa_supported(CpuIsa::kScalar));
}

TEST(Conv2dCpu, EmptyBatchWritesNothing) {
  Conv2dParams p;
  p.batch = 0, p.in_channels = 3, p.height = 4, p.width = 4, p.out_channels = 2;
  float w[6] = {1, 2, 3, 4, 5, 6};
  conv2d_cpu(p, nullptr, w, nullptr);
  SUCCEED();
}

}  // namespace
}  // namespace dice
