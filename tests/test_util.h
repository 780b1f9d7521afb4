// Helpers shared by every test program: where the shared assets and committed fixtures are, a
// scratch folder per test, running the `dice` binary, and array comparison with readable output.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "gpu/cuda_check.h"

namespace dice::test {

// Path of an asset under ../shared/assets (or $DICE_ASSETS). Empty string if it does not exist.
std::string asset(const std::string& rel);
// Path of a committed fixture under tests/fixtures.
std::string fixture(const std::string& rel);
// A fresh empty folder for this test (removed at exit of the process is not guaranteed).
std::string temp_dir();
// Runs the built `dice` binary with the given argument string; returns its exit code and
// captures stdout+stderr into *output.
int run_dice(const std::string& args, std::string* output);

// Whether DICE_REQUIRE_GPU=1 is set: GPU tests then fail where they would skip (gpu-check.sh sets
// it, so a missing library, a driver/runtime mismatch or a broken build cannot show green).
bool gpu_required();

// max |a-b| / max |b| (normalized error as STYLE.md asks) and max |a-b|; prints the first few
// mismatches above tol to the test log. NaN anywhere counts as a failure (returns +inf).
double normalized_error(const float* a, const float* b, int64_t n, double tol = 1e-4,
                        const char* what = "");

}  // namespace dice::test

#define DICE_REQUIRE_ASSET(var, rel)                                          \
  std::string var = ::dice::test::asset(rel);                                 \
  if (var.empty()) GTEST_SKIP() << "asset not present: ../shared/assets/" << rel

// Skips a GPU test for `why`, or fails it with that reason when DICE_REQUIRE_GPU=1.
#define DICE_GPU_SKIP(why)                                                        \
  do {                                                                            \
    const std::string dice_why_ = (why);                                          \
    if (::dice::test::gpu_required()) FAIL() << "DICE_REQUIRE_GPU=1: " << dice_why_; \
    GTEST_SKIP() << dice_why_;                                                    \
  } while (0)

// First line of every GPU test: no usable device skips (or fails, see gpu_required()), naming why.
#define DICE_REQUIRE_GPU()                                                           \
  do {                                                                               \
    const std::string dice_reason_ = ::dice::cuda_unavailable_reason();              \
    if (!dice_reason_.empty()) DICE_GPU_SKIP(dice_reason_);                          \
  } while (0)
