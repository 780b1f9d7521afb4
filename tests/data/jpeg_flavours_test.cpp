// JPEG flavours beyond baseline YCbCr: CMYK/YCCK (as PIL reads them), the ones stb cannot decode
// (arithmetic coding, 12-bit, lossless), and the optional libjpeg-turbo decoder, which must match
// PIL bit for bit on every fixture and never crash on corrupt input. Variants are made here by
// patching the committed fixtures' bytes (a marker or a header field), so the expectation is the
// PIL-decoded PNG of the original where libjpeg's reading is unchanged.
#include <gtest/gtest.h>

#include "core/error.h"
#include "data/image.h"
#include "data_fixtures.h"

namespace dice {
namespace {

using test::contains;
using test::data_fixture;

// Offset of the first marker `m` (0xFF m) among the header segments, or npos.
size_t find_marker(const std::vector<uint8_t>& b, uint8_t m) {
  size_t i = 2;
  while (i + 4 <= b.size() && b[i] == 0xFF) {
    if (b[i + 1] == m) return i;
    if (b[i + 1] == 0xDA) break;
    i += 2 + (size_t(b[i + 2]) << 8 | b[i + 3]);
  }
  return std::string::npos;
}

std::string error_of(const std::vector<uint8_t>& b, const std::string& name, JpegDecoder d) {
  try {
    decode_image_memory(b.data(), b.size(), name, d);
  } catch (const Error& e) {
    return e.what();
  }
  return "(decoded)";
}

std::vector<JpegDecoder> decoders() {
  std::vector<JpegDecoder> d{JpegDecoder::kStb};
  if (have_turbojpeg()) d.push_back(JpegDecoder::kTurbo);
  return d;
}

TEST(JpegCmyk, AdobeMarkerAbsentOrOddTransformReadAsLibjpegDoes) {
  const std::vector<uint8_t> orig = test::slurp(data_fixture("img/jpeg_cmyk444_23x17.jpg"));
  const Image want = decode_image(data_fixture("expect/jpeg_cmyk444_23x17.jpg.rgb.png"));
  const size_t app14 = find_marker(orig, 0xEE);
  ASSERT_NE(app14, std::string::npos) << "PIL writes CMYK JPEGs with an Adobe marker";
  // Without the marker libjpeg (and so PIL) still reads 4 components as CMYK: same pixels.
  std::vector<uint8_t> stripped(orig.begin(), orig.begin() + app14);
  const size_t len = size_t(orig[app14 + 2]) << 8 | orig[app14 + 3];
  stripped.insert(stripped.end(), orig.begin() + app14 + 2 + len, orig.end());
  for (JpegDecoder d : decoders()) {
    Image got = decode_image_memory(stripped.data(), stripped.size(), "stripped.jpg", d);
    EXPECT_EQ(test::max_abs_diff(got, want), 0) << (d == JpegDecoder::kStb ? "stb" : "turbo");
  }
  // Adobe transform 1 on 4 components: libjpeg assumes YCCK. stb must agree with libjpeg-turbo.
  std::vector<uint8_t> odd = orig;
  odd[app14 + 4 + 11] = 1;
  Image s = decode_image_memory(odd.data(), odd.size(), "odd.jpg", JpegDecoder::kStb);
  EXPECT_GT(test::count_diff(s, want), 0);  // really read differently
  if (have_turbojpeg()) {
    Image t = decode_image_memory(odd.data(), odd.size(), "odd.jpg", JpegDecoder::kTurbo);
    EXPECT_EQ(test::max_abs_diff(s, t), 0);
  }
}

TEST(JpegCmyk, PatchedPathSurvivesCorruption) {
  // The copy with an inserted Adobe marker goes through the same screening as any JPEG.
  std::vector<uint8_t> orig = test::slurp(data_fixture("img/jpeg_cmyk420_40x30.jpg"));
  const size_t app14 = find_marker(orig, 0xEE);
  ASSERT_NE(app14, std::string::npos);
  orig.erase(orig.begin() + static_cast<std::ptrdiff_t>(app14),
             orig.begin() + static_cast<std::ptrdiff_t>(app14 + 2 + 14));
  uint64_t state = 99;
  auto rnd = [&state] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return state >> 33;
  };
  for (int r = 0; r < 150; ++r) {
    std::vector<uint8_t> b = orig;
    for (int k = 0, flips = 1 + static_cast<int>(rnd() % 8); k < flips; ++k)
      b[2 + rnd() % (b.size() - 2)] = static_cast<uint8_t>(rnd());
    if (rnd() % 4 == 0) b.resize(2 + rnd() % (b.size() - 2));
    for (JpegDecoder d : decoders()) {
      try {
        Image im = decode_image_memory(b.data(), b.size(), "cmyk.jpg", d);
        ASSERT_EQ(im.rgb.size(), size_t(im.width) * im.height * 3);
      } catch (const Error& e) {
        ASSERT_TRUE(contains(e.what(), "cmyk.jpg")) << e.what();
      }
    }
  }
}

TEST(JpegFlavours, UnsupportedOnesAreNamedNeverCrash) {
  const std::vector<uint8_t> orig = test::slurp(data_fixture("img/jpeg420_96x72.jpg"));
  const size_t sof = find_marker(orig, 0xC0);
  ASSERT_NE(sof, std::string::npos);
  // Arithmetic coding (SOF9): stb refuses with the fix; libjpeg-turbo may try (the data is
  // Huffman-coded, so it decodes garbage or fails) but must not crash.
  std::vector<uint8_t> arith = orig;
  arith[sof + 1] = 0xC9;
  std::string e = error_of(arith, "/x/arith.jpg", JpegDecoder::kStb);
  EXPECT_TRUE(contains(e, "/x/arith.jpg") && contains(e, "arithmetic")) << e;
  if (have_turbojpeg()) {
    e = error_of(arith, "/x/arith.jpg", JpegDecoder::kTurbo);
    EXPECT_TRUE(e == "(decoded)" || contains(e, "/x/arith.jpg")) << e;
  }
  // 12-bit samples (precision byte of the frame header): refused by both, naming the file.
  std::vector<uint8_t> twelve = orig;
  twelve[sof + 1] = 0xC1;
  twelve[sof + 4] = 12;
  for (JpegDecoder d : decoders()) {
    e = error_of(twelve, "/x/twelve.jpg", d);
    EXPECT_TRUE(contains(e, "/x/twelve.jpg") && contains(e, "12-bit")) << e;
  }
  // Lossless (SOF3) and hierarchical (SOF5).
  for (uint8_t m : {uint8_t(0xC3), uint8_t(0xC5)}) {
    std::vector<uint8_t> b = orig;
    b[sof + 1] = m;
    for (JpegDecoder d : decoders()) {
      e = error_of(b, "/x/odd.jpg", d);
      EXPECT_TRUE(contains(e, "/x/odd.jpg") && contains(e, m == 0xC3 ? "lossless" : "hierarchical"))
          << e;
    }
  }
}

TEST(JpegDecoderChoice, ParseAndDefault) {
  EXPECT_EQ(jpeg_decoder(), JpegDecoder::kStb);
  EXPECT_EQ(parse_jpeg_decoder("stb"), JpegDecoder::kStb);
  EXPECT_THROW(parse_jpeg_decoder("libjpeg"), Error);
  if (have_turbojpeg()) {
    EXPECT_EQ(parse_jpeg_decoder("turbo"), JpegDecoder::kTurbo);
  } else {
    EXPECT_THROW(parse_jpeg_decoder("turbo"), Error);
    const std::vector<uint8_t> b = test::slurp(data_fixture("img/jpeg420_5x7.jpg"));
    Image img;
    EXPECT_THROW(decode_jpeg_turbo(b.data(), b.size(), "a.jpg", &img), Error);
  }
}

TEST(JpegTurbo, MatchesPilOnEveryFixture) {
  if (!have_turbojpeg()) GTEST_SKIP() << "built without libjpeg-turbo";
  int n = 0;
  for (const auto& m : test::manifest("decode")) {
    if (m.f[3] != "jpeg") continue;
    SCOPED_TRACE(m.f[1]);
    const std::vector<uint8_t> b = test::slurp(data_fixture(m.f[1]));
    Image got = decode_image_memory(b.data(), b.size(), m.f[1], JpegDecoder::kTurbo);
    Image direct;
    if (decode_jpeg_turbo(b.data(), b.size(), m.f[1], &direct))
      EXPECT_EQ(test::max_abs_diff(direct, got), 0);
    else
      std::printf("  %s: TurboJPEG refuses its sampling factors; stb decodes it\n", m.f[1].c_str());
    Image want = decode_image(data_fixture(m.f[2]));
    EXPECT_EQ(test::max_abs_diff(got, want), 0) << test::count_diff(got, want) << " bytes differ";
    ++n;
  }
  EXPECT_GE(n, 10);
}

TEST(JpegTurbo, SurvivesCorruption) {
  if (!have_turbojpeg()) GTEST_SKIP() << "built without libjpeg-turbo";
  uint64_t state = 777;
  auto rnd = [&state] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return state >> 33;
  };
  int ok = 0, errors = 0;
  for (const char* f : {"img/jpeg420_96x72.jpg", "img/jpeg_prog_120x90.jpg",
                        "img/jpeg_cmyk420_40x30.jpg", "img/jpeg_gray_50x50.jpg"}) {
    const std::vector<uint8_t> orig = test::slurp(data_fixture(f));
    for (int r = 0; r < 60; ++r) {
      std::vector<uint8_t> b = orig;
      for (int k = 0, flips = 1 + static_cast<int>(rnd() % 8); k < flips; ++k)
        b[rnd() % b.size()] = static_cast<uint8_t>(rnd());
      if (rnd() % 4 == 0) b.resize(rnd() % b.size());
      try {
        Image im = decode_image_memory(b.data(), b.size(), f, JpegDecoder::kTurbo);
        ASSERT_EQ(im.rgb.size(), size_t(im.width) * im.height * 3);
        ++ok;
      } catch (const Error& e) {
        ASSERT_TRUE(contains(e.what(), f)) << e.what();
        ++errors;
      }
    }
  }
  std::printf("  turbo: %d corrupted files decoded, %d refused\n", ok, errors);
}

}  // namespace
}  // namespace dice
