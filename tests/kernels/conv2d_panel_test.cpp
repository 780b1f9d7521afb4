// kernels/conv2d_panel.h: 1x1 convs with their input, output and residual in column panels give
// the bits of conv2d_cpu on the NCHW tensors, on every ISA (panel widths 8, 16, 32), at stride 1
// and 2, with every fusion, for maps whose images start mid-panel and batches whose last panel is
// narrow (batch 1 of 7x7 and 14x14, as ResNet-50's); weights packed for another ISA
// are repacked; the global average pool over panels is bitwise global_avg_pool_cpu's; the
// layout helpers round-trip; and what the path does not take is said so.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/conv2d_panel.h"
#include "kernels/gemm_cpu.h"
#include "kernels/pool.h"
#include "random.h"
#include "test_util.h"

namespace dice {
namespace {

std::vector<float> to_panels(const std::vector<float>& nchw, int64_t batch, int64_t channels,
                             int64_t pixels) {
  std::vector<float> p(nchw.size(), -7.0f);
  for (int64_t i = 0; i < batch; ++i)
    nchw_image_to_panels(nchw.data() + i * channels * pixels, i, batch, channels, pixels, p.data());
  return p;
}

struct Case {
  const char* name;
  int64_t batch, in, out, side, stride;
  bool residual, affine, relu;
};

// Sides 6 (36 pixels: images start mid-panel for every width), 7 and 14 (ResNet's 7x7 and 14x14
// maps); batches that fill whole panels of 32 columns, then batches whose last panel is narrow for
// every width (49, 588, 9 and 147 output columns; 196 and 507 input columns at stride 2); and
// convs whose output channels outnumber the columns (each thread takes a slice of them).
const Case kCases[] = {
    {"s1_36px_bias_relu", 8, 24, 40, 6, 1, false, false, true},
    {"s1_36px_residual_affine", 8, 40, 24, 6, 1, true, true, true},
    {"s1_7x7_residual", 32, 64, 48, 7, 1, true, false, false},
    {"s2_14x14_to_7x7", 32, 32, 64, 14, 2, false, false, false},
    {"s2_12x12_to_6x6_relu", 8, 48, 40, 12, 2, false, true, true},
    {"narrow_s1_7x7_b1_residual_affine", 1, 64, 48, 7, 1, true, true, true},
    {"narrow_s1_14x14_b3_bias", 3, 40, 24, 14, 1, false, false, false},
    {"narrow_s1_3x3_b1_only_narrow", 1, 16, 24, 3, 1, true, false, true},
    {"narrow_s2_14x14_to_7x7_b1", 1, 32, 64, 14, 2, false, false, true},
    {"narrow_s2_13x13_to_7x7_b3_affine", 3, 24, 40, 13, 2, false, true, false},
    // More output channels than columns, and work enough for threads: split by output channels.
    {"slices_s1_7x7_b1_residual_affine", 1, 256, 512, 7, 1, true, true, true},
    {"slices_s2_14x14_to_7x7_b1", 1, 256, 512, 14, 2, false, false, true},
    {"slices_s1_6x6_b2", 2, 128, 384, 6, 1, false, false, false},
    // conv2d_cpu's rows-t at batch 1 (strided, 49 output pixels), reading the narrow input panel.
    {"rows_t_s2_13x13_to_7x7_b1_residual", 1, 64, 96, 13, 2, true, true, true},
};

void check_case(const Case& c) {
  Conv2dParams p;
  p.batch = c.batch, p.in_channels = c.in, p.out_channels = c.out;
  p.height = p.width = c.side, p.kernel = 1, p.stride = c.stride;
  const int64_t hw = c.side * c.side, n = p.out_height() * p.out_width();
  const std::vector<float> x = test::random_floats(c.batch * c.in * hw, 21, -1, 1);
  const std::vector<float> w = test::random_floats(c.out * c.in, 22, -0.3f, 0.3f);
  const std::vector<float> bias = test::random_floats(c.out, 23, -0.5f, 0.5f);
  const std::vector<float> scale = test::random_floats(c.out, 24, 0.5f, 1.5f);
  const std::vector<float> shift = test::random_floats(c.out, 25, -0.5f, 0.5f);
  const std::vector<float> res = test::random_floats(c.batch * c.out * n, 26, -1, 1);
  ConvFusion f;
  f.bias = bias.data(), f.out_relu = c.relu;
  if (c.affine) f.out_scale = scale.data(), f.out_shift = shift.data();
  if (c.residual) f.residual = res.data();
  const Conv2dCpuPacked packed = conv2d_cpu_pack(p, w.data());
  std::vector<float> want(static_cast<size_t>(c.batch * c.out * n));
  conv2d_cpu(p, x.data(), packed, want.data(), f);

  ASSERT_TRUE(conv2d_panels_supported(p, f, packed));
  const std::vector<float> x_panels = to_panels(x, c.batch, c.in, hw);
  const std::vector<float> res_panels = to_panels(res, c.batch, c.out, n);
  for (ActLayout in : {ActLayout::kNchw, ActLayout::kPanels})
    for (ActLayout out : {ActLayout::kNchw, ActLayout::kPanels}) {
      if (in == ActLayout::kNchw && (out == ActLayout::kNchw || c.stride != 1)) continue;
      SCOPED_TRACE(std::string(in == ActLayout::kPanels ? "panels" : "nchw") + " -> " +
                   (out == ActLayout::kPanels ? "panels" : "nchw"));
      ConvFusion g = f;
      if (c.residual && out == ActLayout::kPanels) g.residual = res_panels.data();
      std::vector<float> y(want.size(), -7.0f), y_nchw(want.size());
      conv2d_cpu_panels(p, in, in == ActLayout::kPanels ? x_panels.data() : x.data(), packed, out,
                        y.data(), g);
      if (out == ActLayout::kPanels)
        panels_to_nchw(y.data(), c.batch, c.out, n, y_nchw.data());
      else
        y_nchw = y;
      EXPECT_EQ(y_nchw, want);
    }
}

TEST(Conv2dPanels, BitwiseConv2dCpuOnEveryIsaLayoutAndFusion) {
  for (CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    if (!cpu_isa_supported(isa)) continue;
    const test::IsaGuard cap(isa);
    for (const Case& c : kCases) {
      SCOPED_TRACE(std::string(cpu_isa_name(isa)) + " " + c.name);
      check_case(c);
    }
  }
}

// Weights packed under the best ISA, run with the ISA capped (another mr): repacked, same bits.
TEST(Conv2dPanels, WeightsPackedForAnotherIsaAreRepacked) {
  Conv2dParams p;
  p.batch = 8, p.in_channels = 40, p.out_channels = 36, p.height = p.width = 6;
  const std::vector<float> x = test::random_floats(8 * 40 * 36, 31, -1, 1);
  const std::vector<float> w = test::random_floats(36 * 40, 32, -0.3f, 0.3f);
  const Conv2dCpuPacked packed = conv2d_cpu_pack(p, w.data());
  const test::IsaGuard cap(CpuIsa::kScalar);
  ASSERT_NE(packed.mr, cpu_isa().mr);
  std::vector<float> want(static_cast<size_t>(8 * 36 * 36)), y(want.size()), y_nchw(want.size());
  conv2d_cpu(p, x.data(), w.data(), want.data());
  conv2d_cpu_panels(p, ActLayout::kNchw, x.data(), packed, ActLayout::kPanels, y.data(), {});
  panels_to_nchw(y.data(), 8, 36, 36, y_nchw.data());
  EXPECT_EQ(y_nchw, want);
}

TEST(Conv2dPanels, GlobalAvgPoolIsBitwiseTheNchwOne) {
  // 49, 36, 14 and 3 pixels: 1, 0, 2 and 3 past the last four (the tail goes to the first sum);
  // batches of 32 (whole panels), 3 and 1 (a narrow last panel).
  for (int64_t batch : {32, 3, 1})
  for (int64_t hw : {49, 36, 14, 3}) {
    const int64_t channels = 20;
    SCOPED_TRACE(std::to_string(batch) + " x " + std::to_string(hw));
    std::vector<float> x = test::random_floats(batch * channels * hw, 41, -1, 1);
    // +-2^60 at each plane's first and last pixel: the small values added to a sum while 2^60 is
    // in it are lost, so any other grouping or order of the adds gives other bits.
    for (int64_t plane = 0; plane < batch * channels; ++plane)
      x[static_cast<size_t>(plane * hw)] = 0x1p60f, x[static_cast<size_t>(plane * hw + hw - 1)] = -0x1p60f;
    std::vector<float> want(static_cast<size_t>(batch * channels)), got(want.size());
    global_avg_pool_cpu(batch, channels, hw, x.data(), want.data());
    const std::vector<float> xp = to_panels(x, batch, channels, hw);
    global_avg_pool_panels(batch, channels, hw, xp.data(), got.data());
    EXPECT_EQ(got, want);
  }
}

TEST(Conv2dPanels, LayoutHelpersRoundTripAndPlaceAsDocumented) {
  const int64_t batch = 4, channels = 3, pixels = 24, nr = cpu_panel_width();
  const std::vector<float> x = test::random_floats(batch * channels * pixels, 51, -1, 1);
  const std::vector<float> p = to_panels(x, batch, channels, pixels);
  // Image 2, pixel 5, channel 1: column 53.
  const int64_t col = 2 * pixels + 5;
  EXPECT_EQ(p[static_cast<size_t>((col / nr * channels + 1) * nr + col % nr)],
            x[static_cast<size_t>((2 * channels + 1) * pixels + 5)]);
  std::vector<float> back(x.size());
  panels_to_nchw(p.data(), batch, channels, pixels, back.data());
  EXPECT_EQ(back, x);
  // 3 images of 7 pixels: 21 columns, so for every width the last panel is narrow (21 % nr
  // columns, its rows that many floats apart). Image 2, pixel 6, channel 2: column 20.
  const int64_t b3 = 3, px = 7, last = 20, q = last / nr, width = b3 * px - q * nr;
  const std::vector<float> y = test::random_floats(b3 * channels * px, 52, -1, 1);
  const std::vector<float> yp = to_panels(y, b3, channels, px);
  EXPECT_EQ(panel_element_offset(last, 2, channels, b3 * px, nr), q * nr * channels + 2 * width + last % nr);
  EXPECT_EQ(yp[static_cast<size_t>(q * nr * channels + 2 * width + last % nr)],
            y[static_cast<size_t>((2 * channels + 2) * px + 6)]);
  std::vector<float> yback(y.size());
  panels_to_nchw(yp.data(), b3, channels, px, yback.data());
  EXPECT_EQ(yback, y);
}

TEST(Conv2dPanels, SaysWhatItDoesNotTake) {
  Conv2dParams p;
  p.batch = 8, p.in_channels = 8, p.out_channels = 8, p.height = p.width = 6;
  const std::vector<float> w1(64, 0.1f), w3(576, 0.1f);
  const Conv2dCpuPacked one = conv2d_cpu_pack(p, w1.data());
  EXPECT_TRUE(conv2d_panels_supported(p, {}, one));
  const std::vector<float> s(8, 1.0f);
  ConvFusion pre;
  pre.in_scale = s.data(), pre.in_shift = s.data();
  EXPECT_FALSE(conv2d_panels_supported(p, pre, one));  // a prologue
  Conv2dParams q = p;
  q.kernel = 3, q.pad = 1;
  EXPECT_FALSE(conv2d_panels_supported(q, {}, conv2d_cpu_pack(q, w3.data())));  // 3x3
  q = p, q.stride = 3;
  EXPECT_FALSE(conv2d_panels_supported(q, {}, one));
  q = p, q.in_batch_stride = 8 * 36 * 2;  // a channel slice of a larger tensor
  EXPECT_FALSE(conv2d_panels_supported(q, {}, one));
  EXPECT_TRUE(cpu_panels_fit(8, 36));  // 288 columns: whole panels of 8, 16 and 32
  EXPECT_FALSE(cpu_panels_fit(1, 49));
  EXPECT_FALSE(cpu_panels_fit(0, 64));
}

}  // namespace
}  // namespace dice
