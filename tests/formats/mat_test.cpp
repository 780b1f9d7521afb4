// formats/mat: MATLAB v5 files. Small SVHN-like files (X uint8 32x32x3xN, y double Nx1) written
// by our writer round-trip, uncompressed and zlib-compressed, in both byte orders; files written
// by scipy.io.savemat (an independent writer; bytes embedded below) read with MATLAB's element
// order; doubles stored narrowed to miUINT8 (as MATLAB saves them) convert back; cells are listed
// undecoded; truncated, mutated and garbage input throw dice::Error naming the file.
#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "formats/byte_reader.h"
#include "formats/mat.h"
#include "test_util.h"

namespace {

constexpr int64_t kN = 3;

std::vector<uint8_t> from_hex(const std::string& h) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(static_cast<uint8_t>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return out;
}

uint8_t pixel(int64_t r, int64_t c, int64_t k, int64_t n) {
  return static_cast<uint8_t>((r * 7 + c * 3 + k * 101 + n * 37) & 0xff);
}

// SVHN's layout: X(row, col, channel, image) uint8, y(image, 1) double with 10 meaning digit 0.
std::vector<dice::MatArray> svhn_like() {
  dice::MatArray x;
  x.name = "X", x.class_name = "uint8", x.dims = {32, 32, 3, kN};
  x.data.resize(32 * 32 * 3 * kN);
  for (int64_t n = 0; n < kN; ++n)
    for (int64_t k = 0; k < 3; ++k)
      for (int64_t c = 0; c < 32; ++c)
        for (int64_t r = 0; r < 32; ++r) x.data[r + 32 * c + 1024 * k + 3072 * n] = pixel(r, c, k, n);
  dice::MatArray y;
  y.name = "y", y.class_name = "double", y.dims = {kN, 1};
  const double labels[kN] = {10, 1, 9};
  y.data.resize(sizeof(labels));
  std::memcpy(y.data.data(), labels, sizeof(labels));
  return {x, y};
}

void expect_same(const std::vector<dice::MatArray>& got, const std::vector<dice::MatArray>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].name, want[i].name);
    EXPECT_EQ(got[i].class_name, want[i].class_name);
    EXPECT_EQ(got[i].dims, want[i].dims);
    EXPECT_TRUE(got[i].decoded);
    EXPECT_EQ(got[i].data, want[i].data) << got[i].name;
  }
}

std::string error_of(const std::vector<uint8_t>& bytes, const std::string& name = "svhn_test.mat") {
  try {
    dice::parse_mat(bytes.data(), bytes.size(), name);
  } catch (const dice::Error& e) {
    return e.what();
  }
  return "(no error)";
}

// A v5 header (little-endian) followed by `body`.
std::vector<uint8_t> with_header(const std::vector<uint8_t>& body, const char* text = "MATLAB 5.0 MAT-file, test") {
  std::vector<uint8_t> out(128 + body.size(), 0);
  std::memcpy(out.data(), text, std::strlen(text));
  out[124] = 0x00, out[125] = 0x01, out[126] = 'I', out[127] = 'M';
  std::copy(body.begin(), body.end(), out.begin() + 128);
  return out;
}

// Written by scipy 1.10 from numpy arrays X[r, c, k, n] = r + 10c + 100k + 50n (uint8, shape
// (2, 3, 2, 2)) and y = [[10.0], [3.0]]:  scipy.io.savemat(f, {'X': X, 'y': y}, do_compression=C)
// (header dropped: bytes 128.. of the file).
const char* kScipyPlain =
    "0e00000050000000060000000800000009000000000000000500000010000000020000000300000002000000020000"
    "000100010058000000020000001800000000010a0b141564656e6f787932333c3d46479697a0a1aaab0e0000004000"
    "000006000000080000000600000000000000050000000800000002000000010000000100010079000000090000001000"
    "000000000000000024400000000000000840";
const char* kScipyCompressed =
    "0f00000042000000789ce36360600800623620e600624e0608600562012066026266280dc28c401801654b80143272"
    "718b88a6a4e6e557541a19dbd8bab94f9bbe60e1aad500834e090c0f0000002d000000789ce36360607000623620e6"
    "80d220c00ae5330131231833325402694e2016608001150708cde10000303601b3";

}  // namespace

TEST(Mat, RoundTripUncompressedAndCompressed) {
  const std::string dir = dice::test::temp_dir();
  for (bool compressed : {false, true}) {
    const std::string path = dir + (compressed ? "/z.mat" : "/plain.mat");
    dice::write_mat_v5(path, svhn_like(), compressed);
    std::vector<dice::MatArray> got = dice::read_mat(path);
    expect_same(got, svhn_like());
    const dice::MatArray& x = dice::mat_find(got, "X", path);
    EXPECT_EQ(x.numel(), 32 * 32 * 3 * kN);
    EXPECT_EQ(x.data[5 + 32 * 7 + 1024 * 2 + 3072 * 1], pixel(5, 7, 2, 1));
    std::vector<double> y = dice::mat_to_double(dice::mat_find(got, "y", path), path);
    EXPECT_EQ(y, (std::vector<double>{10, 1, 9}));
  }
}

TEST(Mat, CompressedIsSmallerForRegularData) {
  EXPECT_LT(dice::serialize_mat_v5(svhn_like(), true).size(), dice::serialize_mat_v5(svhn_like(), false).size());
}

TEST(Mat, BigEndianFilesRoundTrip) {
  for (bool compressed : {false, true}) {
    std::vector<uint8_t> b = dice::serialize_mat_v5(svhn_like(), compressed, /*big_endian=*/true);
    EXPECT_EQ(b[126], 'M');
    EXPECT_EQ(b[127], 'I');
    expect_same(dice::parse_mat(b.data(), b.size(), "be.mat"), svhn_like());
  }
}

TEST(Mat, NarrowedDoublesConvertBackToDouble) {
  for (bool be : {false, true}) {
    std::vector<uint8_t> b = dice::serialize_mat_v5(svhn_like(), false, be, /*narrow_integers=*/true);
    std::vector<uint8_t> wide = dice::serialize_mat_v5(svhn_like(), false, be, false);
    EXPECT_LT(b.size(), wide.size());  // y's 3 doubles stored as 3 bytes (a small element)
    expect_same(dice::parse_mat(b.data(), b.size(), "narrow.mat"), svhn_like());
  }
}

TEST(Mat, ReadsScipyFilesInMatlabElementOrder) {
  for (const char* hex : {kScipyPlain, kScipyCompressed}) {
    std::vector<uint8_t> b = with_header(from_hex(hex));
    std::vector<dice::MatArray> a = dice::parse_mat(b.data(), b.size(), "scipy.mat");
    ASSERT_EQ(a.size(), 2u);
    const dice::MatArray& x = dice::mat_find(a, "X", "scipy.mat");
    EXPECT_EQ(x.class_name, "uint8");
    EXPECT_EQ(x.dims, (std::vector<int64_t>{2, 3, 2, 2}));
    for (int r = 0; r < 2; ++r)
      for (int c = 0; c < 3; ++c)
        for (int k = 0; k < 2; ++k)
          for (int n = 0; n < 2; ++n)  // X(r, c, k, n) at r + 2c + 6k + 12n (column-major)
            EXPECT_EQ(x.data[r + 2 * c + 6 * k + 12 * n], r + 10 * c + 100 * k + 50 * n);
    const dice::MatArray& y = dice::mat_find(a, "y", "scipy.mat");
    EXPECT_EQ(y.class_name, "double");
    EXPECT_EQ(y.dims, (std::vector<int64_t>{2, 1}));
    EXPECT_EQ(dice::mat_to_double(y, "scipy.mat"), (std::vector<double>{10, 3}));
  }
}

TEST(Mat, OtherVariablesAreListedNotDecoded) {
  // A 1x1 cell named "c" (flags class 1), whose contents are irrelevant here, then X.
  std::string cell;
  dice::put_le(cell, 14, 4), dice::put_le(cell, 40, 4);
  dice::put_le(cell, 6, 4), dice::put_le(cell, 8, 4), dice::put_le(cell, 1, 4), dice::put_le(cell, 0, 4);
  dice::put_le(cell, 5, 4), dice::put_le(cell, 8, 4), dice::put_le(cell, 1, 4), dice::put_le(cell, 1, 4);
  dice::put_le(cell, (1u << 16) | 1, 4), cell += "c";
  cell.append(3, '\0');
  std::vector<uint8_t> rest = dice::serialize_mat_v5(svhn_like(), true);
  std::vector<uint8_t> b(rest.begin(), rest.begin() + 128);
  b.insert(b.end(), cell.begin(), cell.end());
  b.insert(b.end(), rest.begin() + 128, rest.end());
  std::vector<dice::MatArray> a = dice::parse_mat(b.data(), b.size(), "cell.mat");
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0].name, "c");
  EXPECT_EQ(a[0].class_name, "cell");
  EXPECT_FALSE(a[0].decoded);
  EXPECT_EQ(dice::mat_find(a, "X", "cell.mat").dims, (std::vector<int64_t>{32, 32, 3, kN}));
  try {
    dice::mat_find(a, "c", "cell.mat");
    FAIL();
  } catch (const dice::Error& e) {
    EXPECT_NE(std::string(e.what()).find("cell.mat: variable 'c' is a cell array"), std::string::npos) << e.what();
  }
}

TEST(Mat, MissingVariableNamesFileAndWhatIsThere) {
  std::vector<uint8_t> b = dice::serialize_mat_v5(svhn_like(), false);
  std::vector<dice::MatArray> a = dice::parse_mat(b.data(), b.size(), "train_32x32.mat");
  try {
    dice::mat_find(a, "Z", "train_32x32.mat");
    FAIL();
  } catch (const dice::Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("train_32x32.mat"), std::string::npos) << msg;
    EXPECT_NE(msg.find("X, y"), std::string::npos) << msg;
  }
}

TEST(Mat, BadHeadersNameTheFile) {
  std::vector<uint8_t> good = dice::serialize_mat_v5(svhn_like(), false);
  EXPECT_NE(error_of({}).find("svhn_test.mat: not a MATLAB v5"), std::string::npos);
  std::vector<uint8_t> b = good;
  b[0] = 'X';
  EXPECT_NE(error_of(b).find("svhn_test.mat: not a MATLAB v5"), std::string::npos);
  b = good;
  b[126] = 'Q';
  EXPECT_NE(error_of(b).find("endian indicator"), std::string::npos);
  b = good;
  b[124] = 0x00, b[125] = 0x02;  // MATLAB 7.3 = HDF5
  EXPECT_NE(error_of(b).find("v7.3"), std::string::npos) << error_of(b);
}

TEST(Mat, DimensionsThatDoNotMatchTheDataAreRejected) {
  std::vector<uint8_t> b = dice::serialize_mat_v5(svhn_like(), false);
  // X's dims element starts at 128 (file header) + 8 (matrix tag) + 16 (flags): tag, then 32, 32, 3, N.
  ASSERT_EQ(b[128 + 8 + 16 + 8], 32);
  b[128 + 8 + 16 + 8] = 33;
  std::string msg = error_of(b);
  EXPECT_NE(msg.find("svhn_test.mat"), std::string::npos) << msg;
  EXPECT_NE(msg.find("33x32x3x3"), std::string::npos) << msg;
  b[128 + 8 + 16 + 8 + 3] = 0x80;  // negative dimension
  EXPECT_NE(error_of(b).find("negative"), std::string::npos) << error_of(b);
}

TEST(Mat, TruncatedFilesThrowNamingTheFile) {
  for (bool compressed : {false, true}) {
    std::vector<uint8_t> full = dice::serialize_mat_v5(svhn_like(), compressed);
    // The first element (X) spans [128, first_end): every cut inside it must fail.
    const size_t first_end = 128 + 8 + dice::ByteReader(full.data() + 132, 4, "", "").u32();
    for (size_t cut = 0; cut < full.size(); ++cut) {
      std::vector<uint8_t> b(full.begin(), full.begin() + cut);
      try {
        std::vector<dice::MatArray> a = dice::parse_mat(b.data(), b.size(), "cut.mat");
        EXPECT_TRUE(cut == 128 || cut >= first_end) << "cut at " << cut << " parsed";
        EXPECT_LT(a.size(), 2u);
      } catch (const dice::Error& e) {
        EXPECT_EQ(std::string(e.what()).rfind("cut.mat: ", 0), 0u) << e.what();
        EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
      }
    }
  }
}

TEST(Mat, CorruptZlibStreamThrows) {
  std::vector<uint8_t> b = dice::serialize_mat_v5(svhn_like(), true);
  for (size_t i = 128 + 8 + 2; i < 128 + 8 + 40; ++i) b[i] ^= 0x5a;
  std::string msg = error_of(b);
  EXPECT_EQ(msg.rfind("svhn_test.mat: ", 0), 0u) << msg;
}

TEST(Mat, MutatedAndGarbageInputNeverCrashes) {
  std::mt19937 rng(7);
  for (bool compressed : {false, true}) {
    const std::vector<uint8_t> good = dice::serialize_mat_v5(svhn_like(), compressed);
    for (int trial = 0; trial < 300; ++trial) {
      std::vector<uint8_t> b = good;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) b[128 + rng() % (b.size() - 128)] = static_cast<uint8_t>(rng());
      try {
        dice::parse_mat(b.data(), b.size(), "fuzz.mat");
      } catch (const dice::Error& e) {
        EXPECT_EQ(std::string(e.what()).rfind("fuzz.mat: ", 0), 0u) << e.what();
      }
    }
  }
  // Pure garbage after a valid header.
  std::vector<uint8_t> junk(4096);
  for (auto& v : junk) v = static_cast<uint8_t>(rng());
  junk[0] = 0x0e, junk[1] = 0, junk[2] = 0, junk[3] = 0;  // miMATRIX tag with a huge count
  junk[4] = 0xff, junk[5] = 0xff, junk[6] = 0xff, junk[7] = 0x7f;
  EXPECT_NE(error_of(with_header(junk)).find("truncated"), std::string::npos);
  junk[0] = 0x0f;  // miCOMPRESSED with a huge count
  EXPECT_NE(error_of(with_header(junk)).find("svhn_test.mat"), std::string::npos);
  junk[4] = 100, junk[5] = 0, junk[6] = 0, junk[7] = 0;  // miCOMPRESSED of 100 random bytes
  EXPECT_NE(error_of(with_header(junk)).find("zlib"), std::string::npos) << error_of(with_header(junk));
}
