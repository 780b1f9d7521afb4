// DenseNet-101 (DenseNet-BC L=100 k=12) on the project's CUDA kernels (nn/exec_cuda.h):
//   DenseNet101Cuda/graph/batch:N      device-only forward, CUDA-graph replays timed with events
//                                      (input already on the GPU, as in the PyTorch baseline);
//   DenseNet101Cuda/pipeline/batch:N   host images -> host features through submit()/collect()
//                                      with two batches in flight (copies included), wall time;
//   DenseNet101Cuda/layers/batch:256   one plain-launch forward with events around every op,
//                                      summed per layer type (stem, bottleneck 1x1, 3x3,
//                                      transition = pool + conv, head), in ms per forward;
//   DenseNet101Cpu/batch:64            the CPU path, for reference.
// Before any GPU timing the GPU features are checked once against the CPU DenseNet on a batch of
// 8 (normalized error < 1e-4); a wrong network is never timed. Uses the paper's CIFAR-10 weights
// when the assets are present and random weights of the same shapes otherwise (the speed does not
// depend on the values). Without a GPU every CUDA benchmark is skipped with an error message.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench_util.h"
#include "core/file_io.h"
#include "core/parallel.h"
#include "gpu/cuda_check.h"
#include "gpu/cuda_memory.h"
#include "nn/densenet.h"
#include "nn/exec_cpu.h"
#include "nn/exec_cuda.h"
#include "nn/random_weights.h"
#include "weights/torch_checkpoint.h"

namespace dice {
namespace {

constexpr int64_t kImage = 3 * 32 * 32;
constexpr int64_t kCheckBatch = 8;
constexpr double kCheckTol = 1e-4;

const StateDict& weights() {
  static const StateDict sd = [] {
    const std::string ckpt =
        std::string(DICE_TEST_ASSETS) + "/checkpoints/CIFAR-10/densenet/checkpoint_100.pth.tar";
    return file_exists(ckpt) ? load_weights(ckpt) : random_densenet_state_dict(100, 12, 10, 1);
  }();
  return sd;
}

CpuModel& cpu_model() {
  static CpuModel m(densenet_plan(weights()));
  return m;
}

// Created on first use and released in main() while the CUDA runtime is still up.
std::unique_ptr<CudaModel>& gpu_model_ptr() {
  static std::unique_ptr<CudaModel> m;
  return m;
}
CudaModel& gpu_model() {
  auto& m = gpu_model_ptr();
  if (!m) m = std::make_unique<CudaModel>(densenet_plan(weights()));
  return *m;
}

// n CIFAR-size images uniform in [-2, 2), about the range of normalized pixels.
std::vector<float> random_images(int64_t n, uint64_t state) { return lcg_uniform(n * kImage, state, -2.0f, 2.0f); }

// Normalized error of the GPU features against the CPU DenseNet, computed once.
double check_error() {
  static double err = []() -> double {
    CudaModel& gpu = gpu_model();
    CpuModel& cpu = cpu_model();
    const int64_t d = cpu.feature_dim();
    const std::vector<float> x = random_images(kCheckBatch, 5);
    std::vector<float> want(static_cast<size_t>(kCheckBatch * d));
    std::vector<float> got(want.size(), NAN);
    cpu.features(x.data(), kCheckBatch, want.data());
    gpu.features(x.data(), kCheckBatch, got.data());
    return max_normalized_error(got, want);
  }();
  return err;
}

// Skips the benchmark (and returns false) without a GPU or when the GPU result is wrong.
bool ready(benchmark::State& state) {
  if (cuda_device_count() == 0) {
    state.SkipWithError("no CUDA device");
    return false;
  }
  const double err = check_error();
  if (!(err < kCheckTol)) {
    char msg[160];
    std::snprintf(msg, sizeof msg, "GPU features differ from the CPU DenseNet: normalized error %.3g",
                  err);
    state.SkipWithError(msg);
    return false;
  }
  return true;
}

// Device-only forward: `replays` graph launches between two events per iteration.
void bm_graph(benchmark::State& state, int64_t batch) {
  if (!ready(state)) return;
  try {
    CudaModel& m = gpu_model();
    m.prepare(random_images(batch, 11).data(), batch);
    const int64_t replays = std::max<int64_t>(1, std::min<int64_t>(64, 1024 / batch));
    for (int i = 0; i < 2; ++i) m.enqueue_forward_slot0(batch);  // captures, then warms up
    DICE_CUDA_CHECK(cudaStreamSynchronize(m.stream()));
    Event start, stop;
    double seconds = 0;
    for (auto _ : state) {
      start.record(m.stream());
      for (int64_t i = 0; i < replays; ++i) m.enqueue_forward_slot0(batch);
      stop.record(m.stream());
      const double s = Event::elapsed_ms(start, stop) * 1e-3 / static_cast<double>(replays);
      state.SetIterationTime(s);
      seconds += s;
    }
    if (seconds > 0)
      state.counters["images/s"] = static_cast<double>(batch * state.iterations()) / seconds;
    state.counters["graphs"] = m.graphs_active() ? 1 : 0;
    state.counters["arena_MB"] = static_cast<double>(m.arena_bytes()) / (1 << 20);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

// Host to host through the two-slot pipeline, as `dice eval --device cuda` feeds it.
void bm_pipeline(benchmark::State& state, int64_t batch) {
  if (!ready(state)) return;
  try {
    CudaModel& m = gpu_model();
    const std::vector<float> x = random_images(batch, 13);
    std::vector<float> feats(static_cast<size_t>(batch * m.feature_dim()));
    constexpr int kBatchesPerIteration = 8;
    m.features(x.data(), batch, feats.data());  // plans and captures
    for (auto _ : state) {
      for (int i = 0; i < kBatchesPerIteration; ++i) {
        if (i >= CudaPipeline::kSlots) m.collect(feats.data());
        m.submit(x.data(), batch);
      }
      for (int i = 0; i < CudaPipeline::kSlots; ++i) m.collect(feats.data());
      benchmark::DoNotOptimize(feats.data());
    }
    state.counters["images/s"] =
        benchmark::Counter(static_cast<double>(batch * kBatchesPerIteration * state.iterations()),
                           benchmark::Counter::kIsRate);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

// Per-layer-type times of a plain-launch forward (events between ops: slightly slower than the
// graph, but it shows where the time goes).
void bm_layers(benchmark::State& state, int64_t batch) {
  if (!ready(state)) return;
  try {
    CudaModel& m = gpu_model();
    m.prepare(random_images(batch, 17).data(), batch);
    m.profile_ops(batch);  // warm-up
    std::map<std::string, double> total;  // layer type -> ms summed over iterations
    for (auto _ : state) {
      double sum = 0;
      for (const OpTime& op : m.profile_ops(batch)) {
        std::string kind = op.name;
        if (kind.rfind("transition", 0) == 0) kind = "transition";
        total[kind] += op.ms;
        sum += op.ms;
      }
      state.SetIterationTime(sum * 1e-3);
      total["total"] += sum;
    }
    const double iters = static_cast<double>(state.iterations());
    for (const auto& kv : total) state.counters[kv.first + "_ms"] = kv.second / iters;
    if (total["total"] > 0)
      state.counters["images/s"] = static_cast<double>(batch) * iters / (total["total"] * 1e-3);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

void bm_cpu(benchmark::State& state, int64_t batch) {
  CpuModel& m = cpu_model();
  const std::vector<float> x = random_images(batch, 19);
  std::vector<float> feats(static_cast<size_t>(batch * m.feature_dim()));
  m.features(x.data(), batch, feats.data());  // warm-up: allocates the plan's buffers
  for (auto _ : state) {
    m.features(x.data(), batch, feats.data());
    benchmark::DoNotOptimize(feats.data());
  }
  state.counters["images/s"] = benchmark::Counter(static_cast<double>(batch * state.iterations()),
                                                  benchmark::Counter::kIsRate);
  state.counters["threads"] = num_threads();
}

void register_all() {
  for (int64_t batch : {1, 64, 256, 1024})
    benchmark::RegisterBenchmark(("DenseNet101Cuda/graph/batch:" + std::to_string(batch)).c_str(),
                                 [batch](benchmark::State& s) { bm_graph(s, batch); })
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("DenseNet101Cuda/layers/batch:256",
                               [](benchmark::State& s) { bm_layers(s, 256); })
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
  for (int64_t batch : {256, 1024})
    benchmark::RegisterBenchmark(("DenseNet101Cuda/pipeline/batch:" + std::to_string(batch)).c_str(),
                                 [batch](benchmark::State& s) { bm_pipeline(s, batch); })
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("DenseNet101Cpu/batch:64", [](benchmark::State& s) { bm_cpu(s, 64); })
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}

}  // namespace
}  // namespace dice

int main(int argc, char** argv) {
  dice::register_all();
  return dice::run_cuda_benchmarks(argc, argv, [] { dice::gpu_model_ptr().reset(); });
}
