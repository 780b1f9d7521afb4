// Hostile outputs (issue 17, family 1): an output that is an input, a folder, a device, a FIFO
// nobody reads, a file-size limit, a features set with one member blocked; each must fail by the
// rule of hostile_harness.h. Plus the valid uses that must keep working: --json - and
// /dev/stdout, and a features set that readers see whole even when runs are killed midway.
#include <sys/stat.h>

#include <set>

#include "core/file_set.h"
#include "formats/json.h"
#include "formats/npy.h"
#include "hostile_harness.h"

namespace {

using dice::hostile::expect_refused;
using dice::hostile::folder_with_weights;
using dice::hostile::Limits;
using dice::hostile::run;

const std::vector<std::string> kEval = {"eval",       "--weights", "w.pth",    "--id",
                                        "gaussian:4", "--ood",     "uniform:4"};

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& more) {
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

TEST(HostileOutput, JsonOverTheWeightsIsRefused) {
  const std::string dir = folder_with_weights();
  expect_refused(with(kEval, {"--json", "w.pth"}), dir, "input");
  expect_refused(with(kEval, {"--report", "w.pth"}), dir, "input");
}

TEST(HostileOutput, OutputThroughASymlinkToAnInputIsRefused) {
  const std::string dir = folder_with_weights();
  ASSERT_EQ(::symlink("w.pth", (dir + "/net.safetensors").c_str()), 0);
  expect_refused({"convert", "w.pth", "net.safetensors"}, dir, "w.pth");
  expect_refused({"precompute", "--weights", "w.pth", "--data", "gaussian:2", "--out", "w.pth"},
                 dir, "w.pth");
}

TEST(HostileOutput, FeatureStatAsJsonIsRefused) {
  const std::string dir = folder_with_weights();
  std::vector<double> m(132, 0.5);
  dice::write_npy_f64(dir + "/stat.npy", {132}, m.data());
  expect_refused(with(kEval, {"--feat-stat", "stat.npy", "--p", "90", "--json", "stat.npy"}), dir,
                 "stat.npy");
}

TEST(HostileOutput, FolderAsOutputIsRefused) {
  const std::string dir = folder_with_weights();
  ASSERT_EQ(::mkdir((dir + "/r.json").c_str(), 0755), 0);
  expect_refused(with(kEval, {"--json", "r.json"}), dir, "r.json");
}

TEST(HostileOutput, DevFullIsNoSpace) {
  const std::string dir = folder_with_weights();
  expect_refused(with(kEval, {"--json", "/dev/full"}), dir, "no space");
}

TEST(HostileOutput, FifoWithoutReaderFailsAtOnce) {
  const std::string dir = folder_with_weights();
  ASSERT_EQ(::mkfifo((dir + "/r.json").c_str(), 0644), 0);
  Limits lim;
  lim.timeout_s = 20;
  expect_refused(with(kEval, {"--json", "r.json"}), dir, "r.json", lim);
}

TEST(HostileOutput, FileSizeLimitIsAnErrorNotASignal) {
  const std::string dir = folder_with_weights();
  Limits lim;
  lim.file_size = 4096;  // the features of 50 images are 26 kB
  expect_refused({"features", "--weights", "w.pth", "--data", "gaussian:50", "--out", "p"}, dir,
                 "file too large", lim);
}

TEST(HostileOutput, FeaturesSetWithABlockedMemberLeavesTheOldSet) {
  const std::string dir = folder_with_weights();
  ASSERT_EQ(
      run({"features", "--weights", "w.pth", "--data", "gaussian:3", "--out", "p"}, dir).exit_code,
      0);
  ASSERT_EQ(::unlink((dir + "/p.labels.npy").c_str()), 0);
  ASSERT_EQ(::mkdir((dir + "/p.labels.npy").c_str(), 0755), 0);
  expect_refused({"features", "--weights", "w.pth", "--data", "gaussian:5", "--out", "p"}, dir,
                 "p.labels.npy");
}

TEST(HostileOutput, NonRegularInputsAreRefused) {
  const std::string dir = folder_with_weights();
  ASSERT_EQ(::mkfifo((dir + "/fifo.pth").c_str(), 0644), 0);
  Limits lim;
  lim.timeout_s = 20;
  expect_refused({"eval", "--weights", "fifo.pth", "--id", "gaussian:4", "--ood", "uniform:4"}, dir,
                 "fifo.pth", lim);
  expect_refused({"eval", "--weights", "/dev/zero", "--id", "gaussian:4", "--ood", "uniform:4"},
                 dir, "/dev/zero", lim);
}

TEST(HostileOutput, JsonToStdoutWorks) {
  const std::string dir = folder_with_weights();
  for (const char* target : {"-", "/dev/stdout"}) {
    const auto before = dice::hostile::snapshot(dir);
    const auto r = run(with(kEval, {"--json", target}), dir);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("\"average\""), std::string::npos) << r.out;
    EXPECT_EQ(dice::hostile::snapshot(dir), before) << target;
  }
  // With -, standard output is the JSON alone (the tables go to standard error).
  const auto r = run(with(kEval, {"--json", "-"}), dir);
  EXPECT_NO_THROW(dice::Json::parse(r.out, "stdout")) << r.out;
  EXPECT_NE(r.err.find("AVG"), std::string::npos) << r.err;
}

// Two runs on one prefix at once: both succeed, and the set is one run's, whole.
TEST(HostileOutput, ConcurrentRunsOnOnePrefixSerialise) {
  const std::string dir = folder_with_weights();
  dice::hostile::Result a, b;
  std::thread ta([&] {
    a = run({"features", "--weights", "w.pth", "--data", "gaussian:6", "--out", "p"}, dir);
  });
  std::thread tb([&] {
    b = run({"features", "--weights", "w.pth", "--data", "gaussian:7", "--out", "p"}, dir);
  });
  ta.join();
  tb.join();
  EXPECT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(b.exit_code, 0) << b.err;
  std::set<int64_t> rows;
  for (const char* m : {".features.npy", ".logits.npy", ".labels.npy"}) {
    const std::string path = dir + "/p" + m;
    const std::vector<uint8_t> bytes = dice::read_set_member(dir + "/p", path);
    rows.insert(dice::parse_npy(bytes.data(), bytes.size(), path).shape[0]);
  }
  EXPECT_EQ(rows.size(), 1u);
}

// A reader pairing tensor:X.npy with the labels of a features set refuses labels that belong to
// another run than the set's manifest.
TEST(HostileOutput, MixedFeaturesSetIsRefusedByReaders) {
  const std::string dir = folder_with_weights();
  ASSERT_EQ(
      run({"features", "--weights", "w.pth", "--data", "gaussian:3", "--out", "x"}, dir).exit_code,
      0);
  std::vector<float> images(3 * 3 * 32 * 32, 0.25f);
  dice::write_npy_f32(dir + "/x.npy", {3, 3, 32, 32}, images.data());
  const std::vector<std::string> args = {"eval",         "--weights", "w.pth",    "--id",
                                         "tensor:x.npy", "--ood",     "uniform:4"};
  EXPECT_EQ(run(args, dir).exit_code, 0);  // the set as written is consistent
  const int64_t other[3] = {1, 2, 3};
  dice::write_npy_i64(dir + "/x.labels.npy", {3}, other);  // as another run (or a tool) would
  expect_refused(args, dir, "x.labels.npy");
}

// Runs killed at staggered moments (SIGKILL, the worst case) on one prefix, with a different
// sample count each: whatever is left, readers see three members from one run.
TEST(HostileOutput, KilledRunsLeaveAWholeSet) {
  const std::string dir = folder_with_weights();
  auto spawn = [&](int n) {
    pid_t pid = ::fork();
    if (pid == 0) {
      const std::string w = dir + "/w.pth", data = "gaussian:" + std::to_string(n),
                        out = dir + "/p";
      ::execl(DICE_BINARY, DICE_BINARY, "features", "--weights", w.c_str(), "--data", data.c_str(),
              "--out", out.c_str(), "--threads", "1", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    return pid;
  };
  int status = 0;
  const auto t0 = std::chrono::steady_clock::now();
  ::waitpid(spawn(3), &status, 0);
  const double full_us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const int kills = 24;
  std::set<int64_t> seen;
  // Kill times walk across the end of a run, where the set is published; on a loaded machine,
  // where a run takes longer than the calibrating one, they keep walking later (up to 4x as many
  // kills) until some killed run has published, so the check below means something.
  for (int i = 0; i < kills || (seen.size() < 2 && i < 4 * kills); ++i) {
    const pid_t pid = spawn(4 + i % 2);  // row counts 4 and 5 tell the runs apart
    std::this_thread::sleep_for(
        std::chrono::microseconds(static_cast<int64_t>(full_us * (0.5 + 1.5 * i / kills))));
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    std::vector<int64_t> rows;
    for (const char* m : {".features.npy", ".logits.npy", ".labels.npy"}) {
      const std::string path = dir + "/p" + m;
      const std::vector<uint8_t> b = dice::read_set_member(dir + "/p", path);
      rows.push_back(dice::parse_npy(b.data(), b.size(), path).shape[0]);
    }
    EXPECT_EQ(rows[0], rows[1]) << "kill " << i;
    EXPECT_EQ(rows[0], rows[2]) << "kill " << i;
    seen.insert(rows[0]);
  }
  EXPECT_GT(seen.size(), 1u) << "no killed run got as far as publishing; the test checked nothing";
  // A complete run then leaves no temporary of the killed ones behind.
  ASSERT_EQ(
      run({"features", "--weights", "w.pth", "--data", "gaussian:2", "--out", "p"}, dir).exit_code,
      0);
  for (const auto& [name, what] : dice::hostile::snapshot(dir))
    EXPECT_EQ(name.find(".tmp."), std::string::npos) << name << " left behind";
}

}  // namespace
