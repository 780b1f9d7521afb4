// Decoding: every layout of the fixtures must decode to what PIL's convert("RGB") gives, exactly
// for PNG/BMP and within a measured bound for JPEG; broken input must fail with a dice::Error
// naming the file; the real asset folders must decode.
#include "data/image.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>

#include "core/error.h"
#include "data_fixtures.h"

namespace dice {
namespace {

using test::data_fixture;

// Largest per-channel difference allowed between our JPEG decoding and libjpeg-turbo's (PIL).
// stb_image alone differs by a few levels (up to 84 in the last chroma column of 4:2:2 images);
// with libjpeg's IDCT, upsampling and colour conversion (data/stb_image_impl.cpp) it is exact:
// measured 0 on every fixture and on all 11,600 JPEGs of the shared assets.
constexpr int kJpegMaxLevels = 0;

TEST(DecodeImage, MatchesPilConvertRgb) {
  auto lines = test::manifest("decode");
  ASSERT_GE(lines.size(), 15u) << "manifest missing: run scripts/make_data_fixtures.py";
  int jpeg_max = 0;
  for (const auto& m : lines) {
    SCOPED_TRACE(m.f[1]);
    Image got = decode_image(data_fixture(m.f[1]));
    Image want = decode_image(data_fixture(m.f[2]));  // an 8-bit RGB PNG written by PIL
    ASSERT_EQ(got.width, want.width);
    ASSERT_EQ(got.height, want.height);
    int d = test::max_abs_diff(got, want);
    if (m.f[3] == "exact") {
      EXPECT_EQ(d, 0) << test::count_diff(got, want) << " bytes differ";
    } else {
      jpeg_max = std::max(jpeg_max, d);
      EXPECT_LE(d, kJpegMaxLevels);
      std::printf("  %-28s JPEG max |stb - PIL| = %d levels, %lld of %zu bytes differ\n",
                  m.f[1].c_str(), d, static_cast<long long>(test::count_diff(got, want)),
                  got.rgb.size());
    }
  }
  std::printf("  JPEG decode: max difference from PIL over the fixtures = %d/255\n", jpeg_max);
}

// A PNG assembled here (zlib + CRC), so that the expectation does not come from our decoder.
std::string make_png(uint32_t w, uint32_t h, uint8_t depth, uint8_t ctype,
                     const std::vector<std::string>& rows) {
  auto be32 = [](uint32_t v) {
    return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  };
  auto chunk = [&](const std::string& type, const std::string& data) {
    std::string td = type + data;
    uLong crc = crc32(0, reinterpret_cast<const Bytef*>(td.data()), static_cast<uInt>(td.size()));
    return be32(static_cast<uint32_t>(data.size())) + td + be32(static_cast<uint32_t>(crc));
  };
  std::string raw;
  for (const std::string& r : rows) raw += '\0' + r;  // filter type 0 per row
  std::vector<Bytef> z(compressBound(static_cast<uLong>(raw.size())));
  uLongf zn = static_cast<uLongf>(z.size());
  EXPECT_EQ(compress(z.data(), &zn, reinterpret_cast<const Bytef*>(raw.data()), raw.size()), Z_OK);
  std::string ihdr = be32(w) + be32(h) + std::string{char(depth), char(ctype), 0, 0, 0};
  return std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", ihdr) +
         chunk("IDAT", std::string(reinterpret_cast<char*>(z.data()), zn)) + chunk("IEND", "");
}

TEST(DecodeImage, KnownPixels) {
  const std::string dir = test::temp_dir();
  // 3x2 RGB.
  const std::string rgb = make_png(3, 2, 8, 2,
                                   {std::string("\x01\x02\x03\x10\x20\x30\xff\x00\x80", 9),
                                    std::string("\x00\x00\x00\x07\x08\x09\xfe\xfd\xfc", 9)});
  test::spit(dir + "/rgb.png", rgb.data(), rgb.size());
  Image a = decode_image(dir + "/rgb.png");
  ASSERT_EQ(a.width, 3);
  ASSERT_EQ(a.height, 2);
  EXPECT_EQ(a.rgb, (std::vector<uint8_t>{1, 2, 3, 16, 32, 48, 255, 0, 128, 0, 0, 0, 7, 8, 9, 254,
                                         253, 252}));
  // 16-bit gray: PIL's mode "I" -> RGB conversion clips at 255 (stb alone would keep the high
  // byte: 0, 0, 1, 255).
  const std::string g16 =
      make_png(4, 1, 16, 0, {std::string("\x00\x07\x00\xff\x01\x00\xff\xff", 8)});
  test::spit(dir + "/g16.png", g16.data(), g16.size());
  Image g = decode_image(dir + "/g16.png");
  EXPECT_EQ(g.rgb, (std::vector<uint8_t>{7, 7, 7, 255, 255, 255, 255, 255, 255, 255, 255, 255}));
  // Gray + alpha: alpha dropped, gray replicated.
  const std::string la = make_png(2, 1, 8, 4, {std::string("\x10\x00\x20\xff", 4)});
  test::spit(dir + "/la.png", la.data(), la.size());
  EXPECT_EQ(decode_image(dir + "/la.png").rgb, (std::vector<uint8_t>{16, 16, 16, 32, 32, 32}));
}

TEST(DecodeImage, MissingFileNamesIt) {
  try {
    decode_image("/nonexistent/dir/cat.png");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(test::contains(e.what(), "/nonexistent/dir/cat.png")) << e.what();
  }
}

void expect_decode_error(const std::string& path, const std::string& part = "") {
  try {
    Image im = decode_image(path);
    ADD_FAILURE() << path << ": decoded as " << im.width << "x" << im.height
                  << ", expected an error";
  } catch (const Error& e) {
    EXPECT_TRUE(test::contains(e.what(), path)) << e.what();
    if (!part.empty()) {
      EXPECT_TRUE(test::contains(e.what(), part)) << e.what();
    }
    std::printf("  %s\n", e.what());
  }
}

TEST(DecodeImage, BrokenFilesThrowNamingThem) {
  std::string dir = test::temp_dir();
  const std::string garbage = dir + "/garbage.jpg";
  test::spit(garbage, "this is not an image at all", 27);
  expect_decode_error(garbage);
  const std::string empty = dir + "/empty.png";
  test::spit(empty, "", 0);
  expect_decode_error(empty, "empty");
  expect_decode_error(dir);  // a folder

  // Truncations of real files of each format, cutting into the pixel data. (A PNG that only
  // lacks part of its IEND trailer decodes, in PIL too.)
  for (const char* name : {"img/rgb_50x37.png", "img/rgb_45x31.bmp", "img/jpeg420_96x72.jpg",
                           "img/jpeg_prog_120x90.jpg", "img/interlaced_27x19.png"}) {
    std::vector<uint8_t> b = test::slurp(data_fixture(name));
    ASSERT_GT(b.size(), 200u);
    const bool png = std::string(name).find(".png") != std::string::npos;
    for (size_t keep :
         {size_t(10), size_t(60), b.size() / 2, png ? b.size() * 3 / 4 : b.size() - 3}) {
      std::string p = dir + "/trunc_" + std::to_string(keep) + "_" + std::string(name).substr(4);
      test::spit(p, b.data(), keep);
      SCOPED_TRACE(p);
      expect_decode_error(p);
    }
  }
  // A PPM with a maxval PIL rescales and stb would not.
  const std::string ppm = dir + "/max100.ppm";
  std::string pnm = "P6\n2 1\n100\n";
  pnm += std::string(6, '\x32');
  test::spit(ppm, pnm.data(), pnm.size());
  expect_decode_error(ppm, "maxval");
}

// Headers that claim more than the file holds are refused before anything is allocated.
TEST(DecodeImage, HeadersThatLieAboutSizeAreRefused) {
  std::string dir = test::temp_dir();
  auto spit_str = [&](const std::string& name, const std::string& bytes) {
    test::spit(dir + "/" + name, bytes.data(), bytes.size());
    return dir + "/" + name;
  };
  // PNM whose pixel array is short by one byte (stb would hand back uninitialised memory).
  expect_decode_error(spit_str("short.ppm", "P6\n2 2\n255\n" + std::string(11, 'x')), "truncated");
  // PNM dimensions that overflow int in stb's own reader, and ones over the pixel limit.
  expect_decode_error(spit_str("wide.pgm", "P5\n99999999999999999999 1\n255\n" + std::string(8, 'x')),
                      "--max-image-pixels");
  expect_decode_error(spit_str("big.pgm", "P5\n20000 20000\n255\n" + std::string(8, 'x')),
                      "--max-image-pixels");
  // PNG whose IDAT claims 2 GiB (stb would grow its buffer to that before reading).
  std::vector<uint8_t> png = test::slurp(data_fixture("img/rgb_50x37.png"));
  size_t idat = 8;
  while (std::string(png.begin() + idat + 4, png.begin() + idat + 8) != "IDAT")
    idat += 12 + (size_t(png[idat]) << 24 | png[idat + 1] << 16 | png[idat + 2] << 8 | png[idat + 3]);
  png[idat] = 0x7F;
  std::string bytes(png.begin(), png.end());
  expect_decode_error(spit_str("huge_idat.png", bytes), "truncated or corrupt PNG");
}

// A 1x1 PNG whose zlib stream inflates to 64 MiB: stb would grow its buffer to hold it all; the
// allocation bound refuses it, naming the file (stb decodes the same file without the bound).
TEST(DecodeImage, InflationBombIsRefused) {
  auto chunk = [](std::string& out, const char* type, const std::string& data) {
    const uint32_t n = static_cast<uint32_t>(data.size());
    const char len[4] = {char(n >> 24), char(n >> 16), char(n >> 8), char(n)};
    out.append(len, 4).append(type, 4).append(data).append(4, '\0');  // stb ignores the CRC
  };
  const std::string zeros(64 << 20, '\0');
  uLongf packed_len = compressBound(zeros.size());
  std::string packed(packed_len, '\0');
  ASSERT_EQ(compress2(reinterpret_cast<Bytef*>(&packed[0]), &packed_len,
                      reinterpret_cast<const Bytef*>(zeros.data()), zeros.size(), 9), Z_OK);
  packed.resize(packed_len);
  std::string png("\x89PNG\r\n\x1a\n", 8);
  chunk(png, "IHDR", std::string("\0\0\0\1\0\0\0\1\x08\0\0\0\0", 13));  // 1x1 gray 8-bit
  chunk(png, "IDAT", packed);
  chunk(png, "IEND", "");
  const std::string dir = test::temp_dir(), path = dir + "/bomb.png";
  test::spit(path, png.data(), png.size());
  expect_decode_error(path, "more memory than its size");
  // The same stream inflating to just the image's 2 bytes (filter byte + pixel) decodes.
  std::string small("\0\x2a", 2);
  packed_len = compressBound(2);
  packed.assign(packed_len, '\0');
  ASSERT_EQ(compress2(reinterpret_cast<Bytef*>(&packed[0]), &packed_len,
                      reinterpret_cast<const Bytef*>(small.data()), 2, 9), Z_OK);
  packed.resize(packed_len);
  png.assign("\x89PNG\r\n\x1a\n", 8);
  chunk(png, "IHDR", std::string("\0\0\0\1\0\0\0\1\x08\0\0\0\0", 13));
  chunk(png, "IDAT", packed);
  chunk(png, "IEND", "");
  test::spit(dir + "/ok.png", png.data(), png.size());
  Image ok = decode_image(dir + "/ok.png");
  ASSERT_EQ(ok.width, 1);
  EXPECT_EQ(ok.rgb[0], 0x2a);
}

// A scan that names Huffman tables no DHT segment defined: stb would decode with uninitialised
// tables (out-of-bounds reads); libjpeg stops, and so do we, naming the file.
TEST(DecodeImage, UndefinedHuffmanTableIsRefused) {
  std::vector<uint8_t> jpg = test::slurp(data_fixture("img/jpeg420_96x72.jpg"));
  size_t sos = 2;
  while (sos + 1 < jpg.size() && !(jpg[sos] == 0xFF && jpg[sos + 1] == 0xDA)) ++sos;
  ASSERT_LT(sos + 1, jpg.size());
  const unsigned ns = jpg[sos + 4];
  ASSERT_GE(ns, 1u);
  for (unsigned c = 0; c < ns; ++c) jpg[sos + 6 + 2 * c] = 0x33;  // DC table 3, AC table 3
  const std::string dir = test::temp_dir(), path = dir + "/undefined_tables.jpg";
  test::spit(path, jpg.data(), jpg.size());
  expect_decode_error(path, "never defines");
}

// A baseline JPEG whose frame header claims far more blocks than the file can code (2 bits a
// block at the least) is truncated: refused at once, not decoded as megapixels of padding.
TEST(DecodeImage, BaselineFrameLargerThanItsDataIsTruncated) {
  std::vector<uint8_t> jpg = test::slurp(data_fixture("img/jpeg420_96x72.jpg"));
  size_t sof = 2;
  while (sof + 1 < jpg.size() && !(jpg[sof] == 0xFF && jpg[sof + 1] == 0xC0)) ++sof;
  ASSERT_LT(sof + 8, jpg.size());
  jpg[sof + 5] = 0x10, jpg[sof + 6] = 0x00;  // height 4096
  jpg[sof + 7] = 0x10, jpg[sof + 8] = 0x00;  // width 4096
  const std::string dir = test::temp_dir(), path = dir + "/claims_4096.jpg";
  test::spit(path, jpg.data(), jpg.size());
  expect_decode_error(path, "truncated JPEG");
}

TEST(DecodeImage, PixelLimitIsAdjustable) {
  const std::string f = data_fixture("img/rgb_50x37.png");
  EXPECT_EQ(dice::max_image_pixels(), dice::kDefaultMaxImagePixels);
  dice::set_max_image_pixels(50 * 37 - 1);
  std::string msg;
  try {
    decode_image(f);
  } catch (const dice::Error& e) {
    msg = e.what();
  }
  dice::set_max_image_pixels(50 * 37);
  Image ok = decode_image(f);
  dice::set_max_image_pixels(dice::kDefaultMaxImagePixels);
  EXPECT_NE(msg.find("too large (0.00185 megapixels; --max-image-pixels"), std::string::npos) << msg;
  EXPECT_NE(msg.find("rgb_50x37.png"), std::string::npos) << msg;
  EXPECT_EQ(ok.width, 50);
  EXPECT_THROW(dice::set_max_image_pixels(0), dice::Error);
}

TEST(DecodeImage, BinaryPnm) {
  std::string dir = test::temp_dir();
  std::string pgm = "P5\n# comment\n3 2\n255\n";
  const char px[6] = {0, 10, 20, 30, 40, 50};
  pgm.append(px, 6);
  test::spit(dir + "/a.pgm", pgm.data(), pgm.size());
  Image im = decode_image(dir + "/a.pgm");
  ASSERT_EQ(im.width, 3);
  ASSERT_EQ(im.height, 2);
  for (int i = 0; i < 6; ++i)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(im.rgb[i * 3 + c], px[i]);
}

// The real data sets: a few files of each decode, with plausible sizes and gray ones as RGB.
TEST(DecodeImage, AssetsDecode) {
  DICE_REQUIRE_ASSET(dtd, "datasets/ood_datasets/dtd/images/banded");
  DICE_REQUIRE_ASSET(inet, "datasets/imagenet-sample");
  int n = 0;
  for (const std::string& dir : {dtd, inet + "/n01440764", inet + "/n01443537"}) {
    DIR* d = opendir(dir.c_str());
    ASSERT_TRUE(d) << dir;
    std::vector<std::string> files;
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') files.push_back(dir + "/" + e->d_name);
    closedir(d);
    std::sort(files.begin(), files.end());
    for (size_t i = 0; i < files.size() && i < 3; ++i, ++n) {
      Image im = decode_image(files[i]);
      EXPECT_GE(im.width, 60) << files[i];
      EXPECT_GE(im.height, 60) << files[i];
      EXPECT_EQ(im.rgb.size(), size_t(im.width) * im.height * 3);
    }
  }
  EXPECT_GE(n, 5);
}

}  // namespace
}  // namespace dice

namespace dice {
namespace {

// Corrupted files must decode to something or throw dice::Error: never crash or hang. (Run
// under AddressSanitizer with more rounds when touching the decoders.)
TEST(DecodeImage, SurvivesCorruption) {
  const char* files[] = {
      "img/rgb_50x37.png",     "img/interlaced_27x19.png", "img/palette_trns_40x30.png",
      "img/rgb_45x31.bmp",     "img/palette_37x29.bmp",    "img/jpeg420_96x72.jpg",
      "img/jpeg422_80x60.jpg", "img/jpeg_prog_120x90.jpg", "img/jpeg_gray_50x50.jpg"};
  const int rounds =
      std::getenv("DICE_FUZZ_ROUNDS") ? std::atoi(std::getenv("DICE_FUZZ_ROUNDS")) : 60;
  uint64_t state = 12345;
  auto rnd = [&state] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return state >> 33;
  };
  int ok = 0, errors = 0;
  for (const char* f : files) {
    const std::vector<uint8_t> orig = test::slurp(test::data_fixture(f));
    for (int r = 0; r < rounds; ++r) {
      std::vector<uint8_t> b = orig;
      const int flips = 1 + static_cast<int>(rnd() % 8);
      for (int k = 0; k < flips; ++k) b[rnd() % b.size()] = static_cast<uint8_t>(rnd());
      if (rnd() % 4 == 0) b.resize(rnd() % b.size());
      try {
        Image im = decode_image_memory(b.data(), b.size(), f);
        ASSERT_EQ(im.rgb.size(), size_t(im.width) * im.height * 3);
        ++ok;
      } catch (const Error& e) {
        ASSERT_TRUE(test::contains(e.what(), f)) << e.what();
        ++errors;
      }
    }
  }
  std::printf("  %d corrupted files decoded, %d refused\n", ok, errors);
}

}  // namespace
}  // namespace dice
