// SHA-256 against the FIPS 180-4 / NIST example vectors, fed whole and in uneven pieces (so the
// block buffering is exercised), and through a file.
#include "core/sha256.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "core/error.h"
#include "test_util.h"

namespace {

std::string sha(const std::string& s, size_t piece = 0) {
  dice::Sha256 h;
  if (piece == 0) {
    h.update(s.data(), s.size());
  } else {
    for (size_t i = 0; i < s.size(); i += piece) h.update(s.data() + i, std::min(piece, s.size() - i));
  }
  return h.hex();
}

TEST(Sha256, NistVectors) {
  EXPECT_EQ(sha(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  EXPECT_EQ(sha(two_blocks), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  for (size_t piece : {1, 7, 63, 64, 65})
    EXPECT_EQ(sha(two_blocks, piece), sha(two_blocks)) << "piece " << piece;
  const std::string million(1000000, 'a');
  EXPECT_EQ(sha(million, 4096 + 3), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, FileAndMissingFile) {
  const std::string path = dice::test::temp_dir() + "/abc.bin";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fputs("abc", f);
  std::fclose(f);
  EXPECT_EQ(dice::sha256_file(path), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  try {
    dice::sha256_file(path + ".missing");
    FAIL() << "no error for a missing file";
  } catch (const dice::Error& e) {
    EXPECT_NE(std::string(e.what()).find("abc.bin.missing"), std::string::npos) << e.what();
  }
}

}  // namespace
