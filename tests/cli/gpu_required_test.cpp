// DICE_REQUIRE_GPU=1 turns every GPU test's skip into a failure that names the reason, so the GPU
// check (scripts/gpu-check.sh sets it) cannot pass by skipping. Checked here by running this test
// program again on a GPU test, with and without the variable, on a machine without a usable GPU
// (with one, the GPU test simply runs, and this test has nothing to check).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "gpu/cuda_check.h"
#include "test_util.h"

namespace {

// Runs this test program on `filter` with `env` prepended; returns the exit status, fills *out.
int rerun_self(const std::string& env, const std::string& filter, std::string* out) {
  char self[4096];
  const ssize_t len = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0) return -1;
  self[len] = '\0';
  const std::string cmd = env + " '" + self + "' --gtest_filter=" + filter + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  out->clear();
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
  const int st = ::pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

// A GPU test of this program (tests/cli/cli_test.cpp) that starts with DICE_REQUIRE_GPU().
const char* kGpuTest = "CliCuda.FeaturesAndEvalMatchCpu";

TEST(GpuRequired, SkipsWithoutTheVariableFailsWithIt) {
  const std::string reason = dice::cuda_unavailable_reason();
  if (reason.empty()) GTEST_SKIP() << "a CUDA device is usable here: the GPU test runs instead";
  std::string out;
  EXPECT_EQ(rerun_self("DICE_REQUIRE_GPU=", kGpuTest, &out), 0) << out;
  EXPECT_NE(out.find("[  SKIPPED ] " + std::string(kGpuTest)), std::string::npos) << out;
  EXPECT_NE(out.find(reason), std::string::npos) << out;

  EXPECT_NE(rerun_self("DICE_REQUIRE_GPU=1", kGpuTest, &out), 0) << out;
  EXPECT_NE(out.find("[  FAILED  ] " + std::string(kGpuTest)), std::string::npos) << out;
  EXPECT_NE(out.find("DICE_REQUIRE_GPU=1: " + reason), std::string::npos) << out;
}

}  // namespace
