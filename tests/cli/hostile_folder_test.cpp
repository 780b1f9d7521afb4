// Hostile image folders (issue 17, family 5 of the issue): symlinks that multiply paths
// exponentially, a FIFO named like an image, a FIFO as a data set file. Each must end quickly:
// refused by the rule of hostile_harness.h, or skipped with a warning under --skip-bad.
#include <sys/stat.h>

#include "hostile_harness.h"

namespace {

using dice::hostile::expect_refused;
using dice::hostile::folder_with_weights;
using dice::hostile::Limits;
using dice::hostile::write_bytes;

const std::string kPpm = std::string("P6\n4 4\n255\n") + std::string(48, '\x80');

Limits quick() {
  Limits lim;
  lim.timeout_s = 20;
  return lim;
}

// c/d0 .. c/d26, each d<i> holding two links to d<i+1>: 2^26 paths to the last folder.
TEST(HostileFolder, ExponentialSymlinksAreWalkedOnce) {
  const std::string dir = folder_with_weights(), c = dir + "/set/c";
  ASSERT_EQ(::mkdir((dir + "/set").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(c.c_str(), 0755), 0);
  for (int i = 0; i <= 26; ++i) ASSERT_EQ(::mkdir((c + "/d" + std::to_string(i)).c_str(), 0755), 0);
  for (int i = 0; i < 26; ++i)
    for (const char* l : {"/a", "/b"})
      ASSERT_EQ(::symlink(("../d" + std::to_string(i + 1)).c_str(),
                          (c + "/d" + std::to_string(i) + l).c_str()),
                0);
  write_bytes(c + "/d26/broken.png", "\x89PNG\r\n\x1a\n not really");
  expect_refused({"eval", "--weights", "w.pth", "--id", "gaussian:2", "--ood", "set"}, dir,
                 "broken.png", quick());
}

TEST(HostileFolder, FifoNamedLikeAnImage) {
  const std::string dir = folder_with_weights();
  ASSERT_EQ(::mkdir((dir + "/set").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((dir + "/set/c").c_str(), 0755), 0);
  ASSERT_EQ(::mkfifo((dir + "/set/c/a.jpg").c_str(), 0644), 0);
  write_bytes(dir + "/set/c/b.ppm", kPpm);
  const std::vector<std::string> args = {"eval",       "--weights", "w.pth", "--id",
                                         "gaussian:2", "--ood",     "set"};
  expect_refused(args, dir, "a.jpg", quick());
  // Under --skip-bad it is skipped with a warning and the rest of the set is used.
  auto skip = args;
  skip.push_back("--skip-bad");
  const auto r = dice::hostile::run(skip, dir, quick());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("a.jpg"), std::string::npos) << r.err;
  EXPECT_FALSE(r.timed_out);
}

TEST(HostileFolder, DevZeroBehindAnImageName) {
  const std::string dir = folder_with_weights();
  ASSERT_EQ(::mkdir((dir + "/set").c_str(), 0755), 0);
  ASSERT_EQ(::symlink("/dev/zero", (dir + "/set/z.jpg").c_str()), 0);
  expect_refused({"eval", "--weights", "w.pth", "--id", "gaussian:2", "--ood", "set"}, dir, "z.jpg",
                 quick());
}

TEST(HostileFolder, FifoAsADataSetFile) {
  const std::string dir = folder_with_weights();
  ASSERT_EQ(::mkfifo((dir + "/test_batch.bin").c_str(), 0644), 0);
  ASSERT_EQ(::mkfifo((dir + "/batch").c_str(), 0644), 0);
  expect_refused({"eval", "--weights", "w.pth", "--id", "gaussian:2", "--ood", "test_batch.bin"},
                 dir, "test_batch.bin", quick());
  expect_refused({"eval", "--weights", "w.pth", "--id", "gaussian:2", "--ood", "batch"}, dir,
                 "batch", quick());
}

}  // namespace
