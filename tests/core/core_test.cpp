// core/: parallel_for covers every index exactly once; AtomicFile leaves nothing on failure.
#include <atomic>
#include <vector>

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
