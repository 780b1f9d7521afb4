// formats/zip: archives written by Python's zipfile (deflated, zip64, comment) and by the test
// helper; every truncation and many byte flips must end in dice::Error naming the archive.
#include <random>

#include "core/error.h"
#include "core/file_io.h"
#include "formats/zip.h"
#include "formats/zip_maker.h"
#include "test_util.h"

using dice::ZipArchive;

static std::string repeat(const std::string& s, int n) {
  std::string o;
  for (int i = 0; i < n; ++i) o += s;
  return o;
}

TEST(Zip, ReadsDeflatedArchiveFromPython) {
  ZipArchive z = ZipArchive::from_file(dice::test::fixture("formats/deflated.zip"));
  ASSERT_EQ(z.names(), (std::vector<std::string>{"a/hello.txt", "b/bin"}));
  EXPECT_TRUE(z.has("b/bin"));
  EXPECT_FALSE(z.has("c"));
  EXPECT_EQ(z.entry("a/hello.txt").method, 8);
  EXPECT_EQ(dice::test::str_of(z.read("a/hello.txt")), repeat("hello zip ", 50));
  std::vector<uint8_t> bin = z.read("b/bin");
  ASSERT_EQ(bin.size(), 1024u);
  for (size_t i = 0; i < bin.size(); ++i) ASSERT_EQ(bin[i], i % 256);
}

TEST(Zip, ReadsZip64Entry) {
  ZipArchive z = ZipArchive::from_file(dice::test::fixture("formats/zip64.zip"));
  EXPECT_EQ(dice::test::str_of(z.read("big.bin")), "zip64 payload");
}

TEST(Zip, StoredAndDeflatedFromHelper) {
  for (bool deflate : {false, true}) {
    auto bytes = dice::test::make_zip({{"x", "abc"}, {"dir/y", repeat("yz", 1000)}, {"empty", ""}}, deflate);
    EXPECT_TRUE(dice::is_zip(bytes.data(), bytes.size()));
    ZipArchive z = ZipArchive::from_bytes(bytes, "mem.zip");
    EXPECT_EQ(dice::test::str_of(z.read("x")), "abc");
    EXPECT_EQ(dice::test::str_of(z.read("dir/y")), repeat("yz", 1000));
    EXPECT_EQ(z.read("empty").size(), 0u);
  }
}

TEST(Zip, MissingMemberNamesArchive) {
  auto bytes = dice::test::make_zip({{"x", "abc"}});
  ZipArchive z = ZipArchive::from_bytes(bytes, "mem.zip");
  try {
    z.read("nope");
    FAIL();
  } catch (const dice::Error& e) {
    EXPECT_NE(std::string(e.what()).find("mem.zip"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("nope"), std::string::npos);
  }
}

TEST(Zip, CrcMismatchIsAnError) {
  auto bytes = dice::test::make_zip({{"x", "abcdef"}});
  bytes[30 + 1 + 2] ^= 1;  // a data byte of the stored member
  ZipArchive z = ZipArchive::from_bytes(bytes, "crc.zip");
  try {
    z.read("x");
    FAIL();
  } catch (const dice::Error& e) {
    EXPECT_NE(std::string(e.what()).find("CRC"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("crc.zip"), std::string::npos);
  }
}

TEST(Zip, NotAZip) {
  std::vector<uint8_t> junk(100, 'x');
  EXPECT_FALSE(dice::is_zip(junk.data(), junk.size()));
  EXPECT_THROW(ZipArchive::from_bytes(junk, "junk.zip"), dice::Error);
  EXPECT_THROW(ZipArchive::from_bytes({}, "empty.zip"), dice::Error);
}

// Opens and reads everything; returns normally or throws dice::Error, nothing else.
static void open_all(const std::vector<uint8_t>& b, const std::string& name) {
  ZipArchive z = ZipArchive::from_bytes(b, name);
  for (const auto& n : z.names()) z.read(n);
}

TEST(Zip, EveryTruncationThrowsNamingTheFile) {
  for (bool deflate : {false, true}) {
    auto full = dice::test::make_zip({{"a", repeat("data ", 40)}, {"b", "xyz"}}, deflate);
    for (size_t n = 0; n < full.size(); ++n) {
      std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
      try {
        open_all(cut, "cut.zip");
        ADD_FAILURE() << "truncated to " << n << " bytes was accepted";
      } catch (const dice::Error& e) {
        EXPECT_NE(std::string(e.what()).find("cut.zip"), std::string::npos) << e.what();
      }
    }
  }
}

TEST(Zip, ByteFlipsNeverCrash) {
  std::vector<uint8_t> full = dice::read_file(dice::test::fixture("formats/deflated.zip"));
  std::mt19937 rng(7);
  int errors = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::vector<uint8_t> b = full;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) b[rng() % b.size()] = static_cast<uint8_t>(rng());
    try {
      open_all(b, "flip.zip");
    } catch (const dice::Error& e) {
      ++errors;
      ASSERT_NE(std::string(e.what()).find("flip.zip"), std::string::npos) << e.what();
    }
  }
  EXPECT_GT(errors, 0);
}
