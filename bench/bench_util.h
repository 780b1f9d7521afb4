// Helpers shared by the CUDA benchmark programs: the body of their main(), which names the device
// in the report's context and frees the program's cached device memory before returning, while
// the CUDA runtime is still up (static destructors would run after it has shut down).
#pragma once
#include <benchmark/benchmark.h>

#include "kernels/cuda_check.h"

namespace dice {

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

}  // namespace dice
