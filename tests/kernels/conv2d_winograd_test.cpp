// conv2d_cpu's Winograd F(2x2, 3x3) and F(4x4, 3x3) paths, and F(2x2, 3x3) at stride 2, beyond the
// shape table (conv2d_test.cpp runs every case of op_cases.h under kWinogradAll and kWinograd4All
// on each ISA against conv2d_naive): packed and unpacked weights agree, what the paths do not
// handle falls back to the direct GEMM, both orientations give the same bits, which tile the
// "where it pays" setting picks, and the switch's parsing.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "kernels/conv2d.h"
#include "kernels/conv2d_winograd.h"
#include "kernels/gemm_cpu.h"
#include "random.h"
#include "test_util.h"

namespace dice {
namespace {


struct Problem {
  Conv2dParams p;
  std::vector<float> x, w, res, y;
  Problem(int64_t batch, int64_t c, int64_t m, int64_t side) {
    p.batch = batch, p.in_channels = c, p.out_channels = m, p.height = side, p.width = side + 1;
    p.kernel = 3, p.pad = 1;
    x = test::random_floats(batch * c * side * (side + 1), 11, -1, 1);
    w = test::random_floats(m * c * 9, 12, -0.2f, 0.2f);
    res = test::random_floats(batch * m * side * (side + 1), 13, -1, 1);
  }
  std::vector<float> run(const ConvFusion& f = {}) {
    y.assign(static_cast<size_t>(p.batch * p.out_stride()), 0.0f);
    conv2d_cpu(p, x.data(), w.data(), y.data(), f);
    return y;
  }
  std::vector<float> run_packed(const Conv2dCpuPacked& packed) {
    y.assign(static_cast<size_t>(p.batch * p.out_stride()), 0.0f);
    conv2d_cpu(p, x.data(), packed, y.data());
    return y;
  }
};

TEST(Conv2dWinograd, PackedWeightsGiveTheUnpackedResult) {
  Problem pr(2, 40, 48, 9);
  std::vector<float> unpacked, packed_direct;
  Conv2dCpuPacked under_direct;
  {
    ScopedCpuConvAlgo g(CpuConvAlgo::kDirect);
    under_direct = conv2d_cpu_pack(pr.p, pr.w.data());
    EXPECT_TRUE(under_direct.winograd.empty());
  }
  std::vector<float> by_tile[2];
  for (int m : {2, 4}) {
    ScopedCpuConvAlgo g(m == 2 ? CpuConvAlgo::kWinogradAll : CpuConvAlgo::kWinograd4All);
    const Conv2dCpuPacked under_winograd = conv2d_cpu_pack(pr.p, pr.w.data());
    EXPECT_EQ(under_winograd.winograd_tile, m);
    // 9 x 10 map: 9 (F(4x4)) or 25 (F(2x2)) tiles per image, fewer than a micro-tile's columns,
    // so the transposed orientation: U^T panels, output channels rounded up to nr.
    const int64_t nr = cpu_isa().nr;
    ASSERT_TRUE(conv2d_winograd_transposed(pr.p, m, static_cast<int>(nr)));
    EXPECT_EQ(under_winograd.winograd_nr, nr);
    ASSERT_EQ(under_winograd.winograd.size(),
              static_cast<size_t>((m + 2) * (m + 2) * ((48 + nr - 1) / nr * nr) * 40));
    unpacked = pr.run();
    EXPECT_EQ(pr.run_packed(under_winograd), unpacked);
    // Packed while the direct path was on: transformed per call, same numbers.
    EXPECT_EQ(pr.run_packed(under_direct), unpacked);
    by_tile[m / 4] = unpacked;
  }
  EXPECT_NE(by_tile[0], by_tile[1]) << "F(2x2) and F(4x4) round alike: one of them did not run";
  // Packed for F(2x2), run under F(4x4): back to the weights, transformed per call.
  Conv2dCpuPacked under_f2;
  {
    ScopedCpuConvAlgo g(CpuConvAlgo::kWinogradAll);
    under_f2 = conv2d_cpu_pack(pr.p, pr.w.data());
  }
  ScopedCpuConvAlgo g(CpuConvAlgo::kWinograd4All);
  EXPECT_EQ(pr.run_packed(under_f2), by_tile[1]);
}

TEST(Conv2dWinograd, DiffersFromDirectOnlyByRounding) {
  Problem pr(2, 40, 48, 9);
  std::vector<float> direct, wino;
  {
    ScopedCpuConvAlgo g(CpuConvAlgo::kDirect);
    direct = pr.run();
  }
  for (CpuConvAlgo a : {CpuConvAlgo::kWinogradAll, CpuConvAlgo::kWinograd4All}) {
    {
      ScopedCpuConvAlgo g(a);
      wino = pr.run();
    }
    EXPECT_NE(direct, wino) << "the Winograd path did not run (or rounds exactly like the direct one)";
    EXPECT_LT(test::normalized_error(wino.data(), direct.data(), static_cast<int64_t>(direct.size()),
                                     1e-5, "winograd vs direct"),
              1e-5);
  }
}

TEST(Conv2dWinograd, ResidualAndOtherShapesFallBackToDirect) {
  Problem pr(2, 16, 32, 8);
  ConvFusion f;
  f.residual = pr.res.data();
  f.out_relu = true;
  std::vector<float> direct, wino;
  {
    ScopedCpuConvAlgo g(CpuConvAlgo::kDirect);
    direct = pr.run(f);
  }
  for (CpuConvAlgo a : {CpuConvAlgo::kWinogradAll, CpuConvAlgo::kWinograd4All}) {
    ScopedCpuConvAlgo g(a);
    wino = pr.run(f);
    EXPECT_EQ(wino, direct);
  }
  Conv2dParams q = pr.p;
  q.stride = 2;
  EXPECT_TRUE(conv2d_winograd_shape(q));
  q.stride = 3;
  EXPECT_FALSE(conv2d_winograd_shape(q));
  q = pr.p;
  q.pad = 0;
  EXPECT_FALSE(conv2d_winograd_shape(q));
  q = pr.p;
  q.kernel = 5, q.pad = 2;
  EXPECT_FALSE(conv2d_winograd_shape(q));
  EXPECT_TRUE(conv2d_winograd_shape(pr.p));
}

// The transposed orientation (tiles as the micro-kernel's rows) against the other one, run on the
// same weights: bitwise the same numbers on every ISA, F(2x2) and F(4x4), one and several tile
// groups, part-filled chunks of tiles and of output channels, with the BN prologue and epilogue.
// At stride 2 (F(2x2) only) the same maps give outputs of 4x4, 7x7, 5x5, 4x4, 3x2 and 4x4, and
// {2, 24, 40, 29, 30} (15x15, part-filled tiles) and {1, 40, 36, 64, 64} (a full chunk of tiles
// per image) run the other orientation.
TEST(Conv2dWinograd, TransposedOrientationIsBitwiseTheOther) {
  struct Case { int64_t batch, c, m, h, w; };
  // {1, 192, ...}: batch 1 with enough channels and FLOPs that the input transform splits the
  // channels between threads (when the test runs on more than one).
  const Case cases[] = {{1, 24, 40, 7, 7}, {3, 24, 40, 14, 14}, {1, 96, 64, 9, 10},
                        {40, 16, 33, 7, 7}, {2, 8, 32, 5, 3}, {1, 192, 64, 7, 7},
                        {2, 24, 40, 29, 30}, {1, 40, 36, 64, 64}};
  for (CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    if (!cpu_isa_supported(isa)) continue;
    const CpuIsa old = force_cpu_isa(isa);
    const GemmIsa& gi = cpu_isa();
    for (const Case& k : cases)
      for (const auto& [m, stride] : {std::pair{2, 1}, {4, 1}, {2, 2}}) {
        Conv2dParams p;
        p.batch = k.batch, p.in_channels = k.c, p.out_channels = k.m, p.height = k.h, p.width = k.w;
        p.kernel = 3, p.pad = 1, p.stride = stride;
        if (stride == 1 && k.h > 30) continue;  // the two large maps are for stride 2
        const std::vector<float> x = test::random_floats(p.batch * p.in_stride(), 21, -1, 1);
        const std::vector<float> w = test::random_floats(k.m * k.c * 9, 22, -0.2f, 0.2f);
        const std::vector<float> in_scale = test::random_floats(k.c, 23, 0.5f, 1.5f);
        const std::vector<float> in_shift = test::random_floats(k.c, 24, -0.5f, 0.5f);
        const std::vector<float> bias = test::random_floats(k.m, 25, -0.5f, 0.5f);
        ConvFusion f;
        f.in_scale = in_scale.data(), f.in_shift = in_shift.data(), f.bias = bias.data();
        f.out_relu = true;
        std::vector<float> y[2], want(static_cast<size_t>(p.batch * p.out_stride()));
        for (int t = 0; t < 2; ++t) {
          const std::vector<float> u = conv2d_winograd_pack(p, w.data(), gi, m, t == 1);
          y[t].assign(want.size(), NAN);
          conv2d_winograd_cpu(p, x.data(), u.data(), y[t].data(), f, gi, m, t == 1);
        }
        const std::string what = std::string(gi.name) + " F(" + std::to_string(m) + ") stride " +
                                 std::to_string(p.stride) + " batch " +
                                 std::to_string(k.batch) + " " + std::to_string(k.h) + "x" +
                                 std::to_string(k.w) + " " + std::to_string(k.c) + "->" +
                                 std::to_string(k.m);
        EXPECT_EQ(std::memcmp(y[0].data(), y[1].data(), want.size() * sizeof(float)), 0) << what;
        conv2d_naive(p, x.data(), w.data(), want.data(), f);
        EXPECT_LT(test::normalized_error(y[1].data(), want.data(), static_cast<int64_t>(want.size()),
                                         1e-4, what.c_str()),
                  1e-4);
      }
    force_cpu_isa(old);
  }
}

// Stride 2: the 5x5 transform against the direct path (phase mode) on one problem with the BN
// prologue, bias and ReLU, through conv2d_cpu: packed and per-call filters give the same bits, only
// rounding separates it from the direct sums, and the 16 distinct filter matrices are what is
// packed.
TEST(Conv2dWinograd, StrideTwoDiffersFromDirectOnlyByRounding) {
  Conv2dParams p;
  p.batch = 3, p.in_channels = 40, p.out_channels = 48, p.height = 27, p.width = 25;
  p.kernel = 3, p.stride = 2, p.pad = 1;
  const std::vector<float> x = test::random_floats(p.batch * p.in_stride(), 31, -1, 1);
  const std::vector<float> w = test::random_floats(48 * 40 * 9, 32, -0.2f, 0.2f);
  const std::vector<float> sc = test::random_floats(40, 33, 0.5f, 1.5f);
  const std::vector<float> sh = test::random_floats(40, 34, -0.5f, 0.5f);
  const std::vector<float> bias = test::random_floats(48, 35, -0.5f, 0.5f);
  ConvFusion f;
  f.in_scale = sc.data(), f.in_shift = sh.data(), f.bias = bias.data(), f.out_relu = true;
  const size_t n = static_cast<size_t>(p.batch * p.out_stride());
  std::vector<float> direct(n, NAN), wino(n, NAN), packed_out(n, NAN), want(n);
  {
    ScopedCpuConvAlgo g(CpuConvAlgo::kDirect);
    conv2d_cpu(p, x.data(), w.data(), direct.data(), f);
  }
  ScopedCpuConvAlgo g(CpuConvAlgo::kWinograd);
  ASSERT_EQ(conv2d_winograd_tile(p, false), 2) << "14x13 outputs: 49 2x2 tiles per image";
  conv2d_cpu(p, x.data(), w.data(), wino.data(), f);
  const Conv2dCpuPacked packed = conv2d_cpu_pack(p, w.data());
  EXPECT_EQ(packed.winograd_tile, 2);
  const int64_t nr = cpu_isa().nr;
  const int64_t cols = packed.winograd_nr ? (48 + nr - 1) / nr * nr : 48;
  EXPECT_EQ(packed.winograd.size(), static_cast<size_t>(16 * cols * 40));
  conv2d_cpu(p, x.data(), packed, packed_out.data(), f);
  EXPECT_EQ(packed_out, wino);
  EXPECT_NE(direct, wino) << "the stride-2 Winograd path did not run";
  conv2d_naive(p, x.data(), w.data(), want.data(), f);
  EXPECT_LT(test::normalized_error(wino.data(), want.data(), static_cast<int64_t>(n), 1e-5,
                                   "stride-2 winograd vs naive"),
            1e-5);
  EXPECT_LT(test::normalized_error(wino.data(), direct.data(), static_cast<int64_t>(n), 1e-5,
                                   "stride-2 winograd vs direct"),
            1e-5);
}

TEST(Conv2dWinograd, WherePaysFollowsTheMeasurements) {
  Conv2dParams p;
  p.kernel = 3, p.pad = 1;
  p.in_channels = p.out_channels = 512, p.height = p.width = 7;
  p.batch = 1;
  EXPECT_TRUE(conv2d_winograd_pays(p)) << "ResNet-50 layer4: 16 tiles per image, transposed";
  p.batch = 32;
  EXPECT_TRUE(conv2d_winograd_pays(p)) << "the choice must not depend on the batch";
  p.height = p.width = 6;
  EXPECT_FALSE(conv2d_winograd_pays(p)) << "6x6: 9 tiles";
  p.height = p.width = 7;
  p.in_channels = p.out_channels = 256, p.height = p.width = 14;
  EXPECT_TRUE(conv2d_winograd_pays(p)) << "ResNet-50 layer3: 49 tiles per image";
  p.batch = 1, p.in_channels = p.out_channels = 64, p.height = p.width = 56;
  EXPECT_TRUE(conv2d_winograd_pays(p)) << "ResNet-50 layer1";
  p.batch = 128, p.in_channels = 48, p.out_channels = 12, p.height = p.width = 32;
  EXPECT_FALSE(conv2d_winograd_pays(p)) << "DenseNet-BC's 3x3 to 12 channels";
}

TEST(Conv2dWinograd, DefaultPicksTheTileByTheMap) {
  struct Row { int64_t stride, channels, side; int want; const char* why; };
  const Row rows[] = {
      {1, 64, 56, 4, "ResNet-50 layer1: 196 4x4 tiles"},
      {1, 128, 28, 4, "ResNet-50 layer2: 49 4x4 tiles"},
      {1, 256, 14, 4, "ResNet-50 layer3: 16 4x4 tiles, 31% past the map"},
      {1, 512, 7, 2, "ResNet-50 layer4: 4 4x4 tiles are too few, 16 2x2"},
      {1, 64, 9, 2, "9x9: 4x4 tiles 98% past the map, 25 2x2 tiles"},
      {1, 64, 6, 0, "6x6: 4 4x4 tiles, 9 2x2 tiles"},
      {1, 12, 32, 0, "DenseNet-BC: 12 output channels"},
      {2, 128, 56, 2, "ResNet-50 layer2.0: 196 2x2 tiles at stride 2"},
      {2, 256, 28, 2, "ResNet-50 layer3.0: 49"},
      {2, 512, 14, 0, "ResNet-50 layer4.0: 16 tiles are too few at stride 2"},
      {2, 256, 26, 2, "13x13 outputs: 49 tiles, the fewest taken"},
      {2, 256, 13, 0, "7x7 outputs: 16 tiles"},
      {2, 256, 12, 0, "6x6 outputs: 9 tiles"},
      {2, 16, 56, 0, "16 output channels"},
  };
  Conv2dParams p;
  p.kernel = 3, p.pad = 1;
  auto tile = [&](int64_t batch, int64_t stride, int64_t c, int64_t side) {
    p.batch = batch, p.stride = stride, p.in_channels = p.out_channels = c;
    p.height = p.width = side;
    return conv2d_winograd_tile(p, false);
  };
  {
    ScopedCpuConvAlgo g(CpuConvAlgo::kWinograd);
    for (int64_t batch : {1, 32})  // never by the batch
      for (const Row& r : rows)
        EXPECT_EQ(tile(batch, r.stride, r.channels, r.side), r.want) << r.why;
    tile(1, 1, 64, 56);
    EXPECT_EQ(conv2d_winograd_tile(p, true), 0) << "a residual fusion is not handled";
  }
  {
    ScopedCpuConvAlgo all4(CpuConvAlgo::kWinograd4All);
    EXPECT_EQ(tile(1, 2, 128, 56), 0) << "no F(4x4) at stride 2: the direct path";
    ScopedCpuConvAlgo all2(CpuConvAlgo::kWinogradAll);
    EXPECT_EQ(tile(1, 2, 16, 6), 2);
  }
  ScopedCpuConvAlgo d(CpuConvAlgo::kDirect);
  EXPECT_EQ(tile(1, 1, 64, 56), 0);
}

TEST(Conv2dWinograd, SwitchParsesItsFourValues) {
  EXPECT_EQ(parse_cpu_conv_algo("direct", "X"), CpuConvAlgo::kDirect);
  EXPECT_EQ(parse_cpu_conv_algo("winograd", "X"), CpuConvAlgo::kWinograd);
  EXPECT_EQ(parse_cpu_conv_algo("winograd-all", "X"), CpuConvAlgo::kWinogradAll);
  EXPECT_EQ(parse_cpu_conv_algo("winograd4-all", "X"), CpuConvAlgo::kWinograd4All);
  try {
    parse_cpu_conv_algo("fast", "DICE_CPU_CONV");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "DICE_CPU_CONV='fast' is not one of direct, winograd, winograd-all, winograd4-all");
  }
}

}  // namespace
}  // namespace dice
