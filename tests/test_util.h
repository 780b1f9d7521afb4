// Helpers shared by every test program: where the shared assets and committed fixtures are, a
// scratch folder per test, running the `dice` binary, tensors inside poisoned buffers, and array
// comparison with readable output. Random data and the poison: random.h.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "gpu/cuda_check.h"
#include "kernels/gemm_cpu.h"

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

// Where a kernel test puts one tensor: `batch` images of `buffer_channels` planes of `plane`
// floats, the tensor being channels [offset, offset + channels) of each image, with kMargin floats
// before the first image and after the last. An output buffer is poisoned (tests/random.h) before
// a run, so everything but the tensor must still hold the poison after it.
struct Slice {
  static constexpr int64_t kMargin = 64;  // 256 bytes: the tensor keeps the buffer's alignment
  int64_t batch = 1, buffer_channels = 0, offset = 0, channels = 0, plane = 1;

  int64_t size() const { return 2 * kMargin + batch * buffer_channels * plane; }
  int64_t start() const { return kMargin + offset * plane; }  // the tensor's first element
  int64_t batch_stride() const { return buffer_channels * plane; }
};
// The tensor's elements of `buf` (laid out as `s`), in order; *clobbered (when given) counts the
// other elements that do not hold the poison.
std::vector<float> take_slice(const Slice& s, const std::vector<float>& buf,
                              int64_t* clobbered = nullptr);

// One case of an op-case table (tests/op_cases.h) run on one implementation: the parameter of
// the kernel tests. Both have a `name`; the test is named "<case>_<implementation>".
template <typename Case, typename Impl>
struct OpRun {
  Case c;
  Impl impl;
};

template <typename Case, typename Impl>
void PrintTo(const OpRun<Case, Impl>& r, std::ostream* os) {
  *os << r.c.name << " " << r.impl.name;
}

// Every case with every implementation.
template <typename Case, typename Impl>
std::vector<OpRun<Case, Impl>> op_runs(const std::vector<Case>& cases,
                                       const std::vector<Impl>& impls) {
  std::vector<OpRun<Case, Impl>> v;
  for (const Case& c : cases)
    for (const Impl& i : impls) v.push_back({c, i});
  return v;
}

// Every case with every implementation that `keep(case, impl)` says can run it: a pair that
// could only skip is not a test (it costs CI a process and reads as coverage).
template <typename Case, typename Impl, typename Keep>
std::vector<OpRun<Case, Impl>> op_runs(const std::vector<Case>& cases,
                                       const std::vector<Impl>& impls, Keep keep) {
  std::vector<OpRun<Case, Impl>> v;
  for (const Case& c : cases)
    for (const Impl& i : impls)
      if (keep(c, i)) v.push_back({c, i});
  return v;
}

template <typename Run>
std::string op_run_name(const ::testing::TestParamInfo<Run>& info) {
  return info.param.c.name + "_" + info.param.impl.name;
}

// One parameterised op test: suite `Suite` (a `Base`, itself a TestWithParam<OpRun<...>>), test
// `Name` running check(run) for every case of `cases` with every implementation of `impls`,
// named Shapes/Suite.Name/<case>_<implementation>.
#define DICE_OP_TEST(Suite, Base, Name, check, cases, impls)                                  \
  DICE_OP_TEST_IF(Suite, Base, Name, check, cases, impls, [](const auto&, const auto&) { return true; })

// DICE_OP_TEST over the (case, implementation) pairs that keep(case, impl) accepts.
#define DICE_OP_TEST_IF(Suite, Base, Name, check, cases, impls, keep)                         \
  class Suite : public Base {};                                                                \
  TEST_P(Suite, Name) { check(GetParam()); }                                                  \
  INSTANTIATE_TEST_SUITE_P(Shapes, Suite,                                                     \
                           ::testing::ValuesIn(::dice::test::op_runs(cases, impls, keep)),    \
                           ::dice::test::op_run_name<Base::ParamType>)

// max |a-b| / max |b| (normalized error as STYLE.md asks) and max |a-b|; prints the first few
// mismatches above tol to the test log. NaN anywhere counts as a failure (returns +inf).
double normalized_error(const float* a, const float* b, int64_t n, double tol = 1e-4,
                        const char* what = "");

// Caps the CPU kernels' instruction set (force_cpu_isa) for its lifetime, then restores the cap.
class IsaGuard {
 public:
  explicit IsaGuard(CpuIsa isa) : old_(force_cpu_isa(isa)) {}
  ~IsaGuard() { force_cpu_isa(old_); }
  IsaGuard(const IsaGuard&) = delete;
  IsaGuard& operator=(const IsaGuard&) = delete;

 private:
  CpuIsa old_;
};

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
