// Resize / CenterCrop / ToTensor / Normalize against torchvision 0.14 + Pillow 9.4, bit for bit:
// the expected tensors and images were made by scripts/make_data_fixtures.py.
#include "data/transforms.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "data/image.h"
#include "data/resize.h"
#include "data_fixtures.h"

namespace dice {
namespace {

using test::data_fixture;

bool same_bits(float a, float b) { return std::memcmp(&a, &b, 4) == 0; }

TEST(Normalize, EveryValueMatchesTorchBitForBit) {
  std::vector<float> t = test::read_f32(data_fixture("normalize_table.f32"));
  ASSERT_EQ(t.size(), 2u * 3 * 256);
  const Preprocess pps[2] = {Preprocess::cifar(), Preprocess::imagenet()};
  int bad = 0;
  for (int p = 0; p < 2; ++p)
    for (int c = 0; c < 3; ++c)
      for (int v = 0; v < 256; ++v) {
        float got = normalize_value(static_cast<uint8_t>(v), c, pps[p]);
        float want = t[(p * 3 + c) * 256 + v];
        if (!same_bits(got, want) && ++bad < 5)
          ADD_FAILURE() << "preset " << p << " c " << c << " v " << v << ": " << got << " vs "
                        << want;
      }
  EXPECT_EQ(bad, 0);
}

TEST(Preprocess, Presets) {
  Preprocess c = Preprocess::cifar(), i = Preprocess::imagenet();
  EXPECT_EQ(c.resize, 32);
  EXPECT_EQ(c.crop, 32);
  EXPECT_EQ(c.mean[0], 0.4914f);
  EXPECT_EQ(c.std[2], 0.2010f);
  EXPECT_EQ(i.resize, 256);
  EXPECT_EQ(i.crop, 224);
  EXPECT_EQ(i.mean[1], 0.456f);
  EXPECT_EQ(i.std[0], 0.229f);
}

TEST(Resize, MatchesPilBilinear) {
  auto lines = test::manifest("resize");
  ASSERT_GE(lines.size(), 10u);
  for (const auto& m : lines) {
    SCOPED_TRACE(m.f[1] + " -> " + m.f[2] + "x" + m.f[3]);
    Image src = decode_image(data_fixture(m.f[1]));
    Image want = decode_image(data_fixture(m.f[4]));
    Image got = resize_bilinear(src, std::stoi(m.f[2]), std::stoi(m.f[3]));
    ASSERT_EQ(got.width, want.width);
    ASSERT_EQ(got.height, want.height);
    EXPECT_EQ(test::count_diff(got, want), 0) << "max diff " << test::max_abs_diff(got, want);
  }
}

TEST(Resize, SameSizeIsACopy) {
  Image a = decode_image(data_fixture("img/rgb_50x37.png"));
  Image b = resize_bilinear(a, 50, 37);
  EXPECT_EQ(a.rgb, b.rgb);
}

TEST(Resize, ShorterSideSemantics) {
  int w, h;
  resize_shorter_size(300, 41, 32, &w, &h);  // int(32 * 300 / 41) = int(234.15)
  EXPECT_EQ(w, 234);
  EXPECT_EQ(h, 32);
  resize_shorter_size(24, 70, 32, &w, &h);  // int(93.33)
  EXPECT_EQ(w, 32);
  EXPECT_EQ(h, 93);
  resize_shorter_size(640, 480, 256, &w, &h);  // int(341.33)
  EXPECT_EQ(w, 341);
  EXPECT_EQ(h, 256);
  resize_shorter_size(500, 375, 256, &w, &h);  // 341.33
  EXPECT_EQ(w, 341);
  resize_shorter_size(375, 500, 256, &w, &h);
  EXPECT_EQ(w, 256);
  EXPECT_EQ(h, 341);
  resize_shorter_size(50, 50, 32, &w, &h);  // square: both sides
  EXPECT_EQ(w, 32);
  EXPECT_EQ(h, 32);
  resize_shorter_size(7, 3, 32, &w, &h);  // 32 * 7 / 3 = 74.67
  EXPECT_EQ(w, 74);
  EXPECT_EQ(h, 32);
  EXPECT_THROW(resize_shorter_size(10, 10, 0, &w, &h), Error);
}

Image ramp(int w, int h) {
  Image im(w, h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) im.row(y)[x * 3 + c] = static_cast<uint8_t>(x + 16 * y + c);
  return im;
}

TEST(CenterCrop, OffsetsRoundHalfToEven) {
  // torchvision: int(round((H - h) / 2)), Python's round. diff 1 -> 0, 3 -> 2, 5 -> 2, 7 -> 4.
  for (auto [diff, off] :
       std::vector<std::pair<int, int>>{{0, 0}, {1, 0}, {2, 1}, {3, 2}, {5, 2}, {7, 4}}) {
    Image im = ramp(4 + diff, 4);
    Image c = center_crop(im, 4, 4);
    ASSERT_EQ(c.width, 4);
    EXPECT_EQ(c.row(0)[0], static_cast<uint8_t>(off)) << "diff " << diff;
    Image t = ramp(4, 4 + diff);
    Image ct = center_crop(t, 4, 4);
    EXPECT_EQ(ct.row(0)[0], static_cast<uint8_t>(16 * off)) << "diff " << diff;
  }
}

TEST(CenterCrop, PadsWithZerosWhenLarger) {
  Image im = ramp(3, 2);
  // 3x2 -> 6x5: pad left 1, right 2, top 1, bottom 2.
  Image c = center_crop(im, 5, 6);
  ASSERT_EQ(c.width, 6);
  ASSERT_EQ(c.height, 5);
  EXPECT_EQ(c.row(0)[3], 0);
  EXPECT_EQ(c.row(1)[0], 0);
  EXPECT_EQ(c.row(1)[3], im.row(0)[0]);
  EXPECT_EQ(c.row(2)[3 * 3 + 1], im.row(1)[2 * 3 + 1]);
  EXPECT_EQ(c.row(2)[4 * 3], 0);
  // Larger in one axis only: 8x3 -> 5x4 pads top 0 / bottom 1, then crops columns from
  // round(1.5) = 2.
  Image d = center_crop(ramp(8, 3), 4, 5);
  ASSERT_EQ(d.width, 5);
  ASSERT_EQ(d.height, 4);
  EXPECT_EQ(d.row(0)[0], 2);
  EXPECT_EQ(d.row(2)[0], 2 + 32);
  EXPECT_EQ(d.row(3)[0], 0);
}

TEST(Preprocess, CifarTensorsMatchTorchvision) {
  auto lines = test::manifest("cifar");
  ASSERT_GE(lines.size(), 20u);
  const Preprocess pp = Preprocess::cifar();
  double jpeg_max_levels = 0;
  for (const auto& m : lines) {
    SCOPED_TRACE(m.f[1]);
    std::vector<float> want = test::read_f32z(data_fixture(m.f[2]), 3 * 32 * 32);
    std::vector<float> got(3 * 32 * 32);
    preprocess_image(decode_image(data_fixture(m.f[1])), pp, got.data());
    // JPEG lines are exact too (see kJpegMaxLevels in image_test.cpp); the measured difference
    // in levels is printed for them.
    {
      int bad = 0;
      for (size_t i = 0; i < got.size(); ++i)
        if (!same_bits(got[i], want[i]) && ++bad <= 3)
          ADD_FAILURE() << "at " << i << ": " << got[i] << " vs " << want[i];
      EXPECT_EQ(bad, 0);
    }
    if (m.f[3] == "jpeg") {
      double mx = 0;
      for (size_t i = 0; i < got.size(); ++i) {
        const int c = static_cast<int>(i / 1024);
        mx = std::max(mx, std::fabs(double(got[i]) - want[i]) * pp.std[c] * 255.0);
      }
      jpeg_max_levels = std::max(jpeg_max_levels, mx);
    }
  }
  std::printf("  JPEG after Resize(32)/CenterCrop(32): max difference = %.2f/255\n",
              jpeg_max_levels);
}

TEST(Preprocess, ImagenetGeometryMatchesTorchvision) {
  auto lines = test::manifest("imagenet");
  ASSERT_GE(lines.size(), 2u);
  const Preprocess pp = Preprocess::imagenet();
  for (const auto& m : lines) {
    SCOPED_TRACE(m.f[1]);
    Image src = decode_image(data_fixture(m.f[1]));
    Image want = decode_image(data_fixture(m.f[2]));
    Image got = center_crop(resize_shorter(src, 256), 224, 224);
    ASSERT_EQ(got.width, 224);
    EXPECT_EQ(test::count_diff(got, want), 0);
    // And the full tensor is that image through the (exhaustively checked) value map.
    std::vector<float> t(3 * 224 * 224);
    preprocess_image(src, pp, t.data());
    for (int c = 0; c < 3; ++c)
      for (int k = 0; k < 224 * 224; k += 97)
        ASSERT_TRUE(same_bits(t[c * 224 * 224 + k], normalize_value(want.rgb[k * 3 + c], c, pp)));
  }
}

TEST(Preprocess, ThirtyTwoPassesUnchanged) {
  Image im = decode_image(data_fixture("img/rgb_32x32.png"));
  const Preprocess pp = Preprocess::cifar();
  std::vector<float> t(3 * 32 * 32);
  preprocess_image(im, pp, t.data());
  for (int c = 0; c < 3; ++c)
    for (int k = 0; k < 1024; ++k)
      ASSERT_EQ(t[c * 1024 + k], normalize_value(im.rgb[k * 3 + c], c, pp));
}

}  // namespace
}  // namespace dice
