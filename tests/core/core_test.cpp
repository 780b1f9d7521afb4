// core/: parallel_for covers every index exactly once; AtomicFile leaves nothing on failure;
// echo() makes outside text safe to print.
#include <atomic>
#include <vector>

#include "core/echo.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/parallel.h"
#include "test_util.h"

TEST(Parallel, CoversEveryIndexOnce) {
  for (int64_t n : {1, 2, 3, 17, 1000}) {
    std::vector<std::atomic<int>> hits(n);
    dice::parallel_for(n, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[i]++;
    });
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 1) << "n=" << n << " i=" << i;
  }
}

TEST(Parallel, PropagatesExceptions) {
  EXPECT_THROW(dice::parallel_for(8, [](int64_t b, int64_t) {
                 if (b == 0) throw dice::Error("boom");
               }),
               dice::Error);
}

TEST(AtomicFile, UncommittedLeavesNothing) {
  std::string dir = dice::test::temp_dir();
  std::string path = dir + "/out.bin";
  {
    dice::AtomicFile f(path);
    f.write("half", 4);
  }
  EXPECT_FALSE(dice::file_exists(path));
  dice::write_file_atomic(path, "whole", 5);
  EXPECT_EQ(dice::read_file(path).size(), 5u);
}

TEST(ReadFile, MissingFileNamesThePath) {
  try {
    dice::read_file("/nonexistent/x.bin");
    FAIL();
  } catch (const dice::Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/x.bin"), std::string::npos);
  }
}

TEST(Echo, EscapesControlsAndCutsLongText) {
  EXPECT_EQ(dice::echo("plain name.npy"), "plain name.npy");
  EXPECT_EQ(dice::echo("a\x1b]0;pwned\x07z\n"), "a\\x1b]0;pwned\\x07z\\n");
  EXPECT_EQ(dice::echo("caf\xc3\xa9"), "caf\xc3\xa9");               // UTF-8 passes
  EXPECT_EQ(dice::echo("\xc2\x9b" "2J\xff"), "\\xc2\\x9b2J\\xff");  // C1 CSI and a stray byte do not
  const std::string big(1 << 20, 'x');
  const std::string e = dice::echo(big + "/tail.jpg");
  EXPECT_LE(e.size(), 120u);
  EXPECT_NE(e.find("tail.jpg"), std::string::npos) << e;
  EXPECT_NE(e.find("bytes"), std::string::npos) << e;
}
