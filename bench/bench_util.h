// Helpers shared by the benchmark programs: random inputs (tests/random.h, the tests' generator),
// the normalized error every benchmark checks its result with before timing it, and, with CUDA,
// the body of main(), which names the device in the report's context and frees the program's
// cached device memory before returning, while the CUDA runtime is still up (static destructors
// would run after it has shut down), and the L2-rotation copy count.
#pragma once
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "gpu/cuda_check.h"
#include "kernels/gemm_cpu.h"
#include "kernels/precision.h"
#include "tests/random.h"

namespace dice {

// n floats uniform in [lo, hi): test::random_floats, under the name the network benchmarks use.
inline std::vector<float> lcg_uniform(int64_t n, uint64_t seed, float lo, float hi) {
  return test::random_floats(n, seed, lo, hi);
}

// max |got - want| / max |want|; +inf if got has a NaN or Inf.
inline double max_normalized_error(const std::vector<float>& got, const std::vector<float>& want) {
  double err = 0, scale = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    err = std::max(err, std::fabs(static_cast<double>(got[i]) - want[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(want[i])));
  }
  return err / std::max(scale, 1e-30);
}

// The benchmark loop of the CPU network programs: forward() once per iteration, each timed, and
// their median set as the counter median_ms, which scripts/bench-cpu-peers.sh sets beside the
// peers' median latency (real_time, the mean, also carries the shared host's stalls).
template <class Forward>
void run_timed_forwards(benchmark::State& state, const Forward& forward) {
  std::vector<double> ms;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    forward();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::nth_element(ms.begin(), ms.begin() + static_cast<std::ptrdiff_t>(ms.size() / 2), ms.end());
  state.counters["median_ms"] = ms.empty() ? 0.0 : ms[ms.size() / 2];
}

// False, the case skipped saying why, where the CPU path cannot run `precision` here (bf16
// without AVX512-BF16); the CPU network programs' *Bf16 cases start with it.
inline bool cpu_precision_runs(benchmark::State& state, Precision precision) {
  if (precision != Precision::kBf16 || cpu_isa_bf16()) return true;
  state.SkipWithError("this CPU has no AVX512-BF16 (no bf16 mode)");
  return false;
}

#ifdef DICE_HAVE_CUDA

// How many copies of a problem's input and output (set_bytes together) a benchmark rotates over
// so that each launch reads from DRAM, as in the network: enough to fill three L2 caches, between
// 1 and max_copies.
inline int l2_rotation_copies(double set_bytes, int max_copies) {
  int l2 = 0;
  DICE_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, current_cuda_device()));
  return static_cast<int>(
      std::clamp(std::ceil(3.0 * l2 / set_bytes), 1.0, static_cast<double>(max_copies)));
}

// Runs the benchmarks already registered, then calls release(). Returns main's exit code.
template <typename Release>
int run_cuda_benchmarks(int argc, char** argv, Release release) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("device",
                              dice::cuda_device_count() ? dice::cuda_device_name() : "none");
  benchmark::RunSpecifiedBenchmarks();
  release();
  benchmark::Shutdown();
  return 0;
}

#endif  // DICE_HAVE_CUDA

}  // namespace dice
