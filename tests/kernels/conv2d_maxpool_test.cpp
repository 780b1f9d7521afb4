// kernels/conv2d.h's conv2d_maxpool_cpu (a strided conv and the 3x3/2 pad-1 max pool after it, in
// one pass, band by band): bitwise the two calls on every ISA, at batch 1 (each image's bands split
// between the threads) and batch 3 (whole images per thread), with several bands (the shared conv
// row kept from band to band), odd maps (the last window clipped), a 3x3/2 conv with a prologue,
// and a NaN in the input (the image redone by the two calls, so the NaN propagates as there); and
// conv2d_maxpool_fusable turns down what it does not run.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/gemm_cpu.h"
#include "kernels/pool.h"
#include "random.h"
#include "test_util.h"

namespace dice {
namespace {

struct Case {
  const char* name;
  int64_t batch, in, out, side, kernel;
  bool prologue, nan;
};

// Sides 96 and 97 with 64 output channels: three bands of the pool's rows (the buffer holds 2 x 9
// + 1 conv rows of 51 columns), so both the split at batch 1 and the kept row are exercised.
const Case kCases[] = {
    {"stem_like_96_b1", 1, 3, 64, 96, 7, false, false},
    {"stem_like_97_b3_odd", 3, 3, 64, 97, 7, false, false},
    {"stem_like_96_b1_nan", 1, 3, 64, 96, 7, false, true},
    {"conv3x3s2_40_b2_prologue", 2, 16, 40, 40, 3, true, false},
};


void check(const Case& c) {
  Conv2dParams p;
  p.batch = c.batch, p.in_channels = c.in, p.out_channels = c.out, p.height = p.width = c.side;
  p.kernel = c.kernel, p.stride = 2, p.pad = c.kernel / 2;
  Pool2dParams pool;
  pool.batch = c.batch, pool.channels = c.out, pool.height = p.out_height();
  pool.width = p.out_width(), pool.kernel = 3, pool.stride = 2, pool.pad = 1;
  std::vector<float> x = test::random_floats(c.batch * p.in_stride(), 71, -1, 1);
  if (c.nan) x[static_cast<size_t>(p.in_stride() / 2 + 5)] = NAN;
  const std::vector<float> w = test::random_floats(c.out * c.in * c.kernel * c.kernel, 72, -0.3f, 0.3f);
  const std::vector<float> scale = test::random_floats(c.out, 73, 0.5f, 1.5f);
  const std::vector<float> shift = test::random_floats(c.out, 74, -0.5f, 0.5f);
  const std::vector<float> in_scale = test::random_floats(c.in, 75, 0.5f, 1.5f);
  const std::vector<float> in_shift = test::random_floats(c.in, 76, -0.2f, 0.2f);
  ConvFusion f;
  // (No ReLU with the NaN: the fused ReLU's max would turn it into 0 before the pool sees it.)
  f.out_scale = scale.data(), f.out_shift = shift.data(), f.out_relu = !c.nan;
  if (c.prologue) f.in_scale = in_scale.data(), f.in_shift = in_shift.data();
  const ScopedCpuConvAlgo direct(CpuConvAlgo::kDirect);  // the 3x3/2 in phase mode, not Winograd
  const Conv2dCpuPacked packed = conv2d_cpu_pack(p, w.data());
  ASSERT_TRUE(conv2d_maxpool_fusable(p, f, packed, pool));
  std::vector<float> conv(static_cast<size_t>(c.batch * p.out_stride()));
  std::vector<float> want(static_cast<size_t>(c.batch * pool.out_stride()), -7.0f);
  std::vector<float> got(want.size(), -7.0f);
  conv2d_cpu(p, x.data(), packed, conv.data(), f);
  max_pool2d_cpu(pool, conv.data(), want.data());
  conv2d_maxpool_cpu(p, x.data(), packed, f, pool, got.data());
  // Bitwise, NaNs included.
  EXPECT_EQ(std::memcmp(got.data(), want.data(), sizeof(float) * want.size()), 0);
  if (c.nan) {
    int64_t nans = 0;
    for (float v : got) nans += std::isnan(v);
    EXPECT_GT(nans, 0) << "the NaN must reach the output";
  }
}

TEST(Conv2dMaxPool, BitwiseTheTwoCallsOnEveryIsa) {
  for (CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    if (!cpu_isa_supported(isa)) continue;
    const test::IsaGuard cap(isa);
    for (const Case& c : kCases) {
      SCOPED_TRACE(std::string(cpu_isa_name(isa)) + " " + c.name);
      check(c);
    }
  }
}

TEST(Conv2dMaxPool, FusableTurnsDownWhatItDoesNotRun) {
  Conv2dParams p;
  p.batch = 1, p.in_channels = 3, p.out_channels = 16, p.height = p.width = 32;
  p.kernel = 7, p.stride = 2, p.pad = 3;
  Pool2dParams pool;
  pool.batch = 1, pool.channels = 16, pool.height = pool.width = 16;
  pool.kernel = 3, pool.stride = 2, pool.pad = 1;
  const std::vector<float> w(16 * 3 * 49, 0.1f), res(16 * 16 * 16, 0.0f);
  const Conv2dCpuPacked packed = conv2d_cpu_pack(p, w.data());
  EXPECT_TRUE(conv2d_maxpool_fusable(p, {}, packed, pool));
  ConvFusion r;
  r.residual = res.data();
  EXPECT_FALSE(conv2d_maxpool_fusable(p, r, packed, pool));  // a residual
  Pool2dParams q = pool;
  q.kernel = 2, q.pad = 0;
  EXPECT_FALSE(conv2d_maxpool_fusable(p, {}, packed, q));  // another pool
  q = pool, q.height = 15;
  EXPECT_FALSE(conv2d_maxpool_fusable(p, {}, packed, q));  // not the conv's output
  Conv2dParams s1 = p;
  s1.stride = 1;
  const Conv2dCpuPacked p1 = conv2d_cpu_pack(s1, w.data());
  EXPECT_FALSE(conv2d_maxpool_fusable(s1, {}, p1, pool));  // stride 1: implicit mode
}

}  // namespace
}  // namespace dice
