// DenseNet-101 (DenseNet-BC L=100 k=12) forward on the CPU path, images/s per batch size.
// Uses the paper's CIFAR-10 checkpoint when the assets are present, random weights of the same
// shapes otherwise (the speed does not depend on the values). scripts/bench-cpu-vs-torch.sh runs
// this next to PyTorch on the same machine and prints the ratio. BM_DenseNet101ForwardBf16: the
// same in the CPU's bf16 mode (--precision bf16; skipped, saying so, without AVX512-BF16).
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "bench_util.h"
#include "core/file_io.h"
#include "core/parallel.h"
#include "nn/densenet.h"
#include "nn/exec_cpu.h"
#include "nn/random_weights.h"
#include "weights/torch_checkpoint.h"

namespace {

dice::CpuModel& model(dice::Precision precision) {
  static dice::CpuModel* models[2] = {nullptr, nullptr};
  dice::CpuModel*& m = models[precision == dice::Precision::kBf16 ? 1 : 0];
  if (!m) {
    std::string ckpt = std::string(DICE_TEST_ASSETS) + "/checkpoints/CIFAR-10/densenet/checkpoint_100.pth.tar";
    dice::StateDict sd = dice::file_exists(ckpt) ? dice::load_weights(ckpt)
                                                 : dice::random_densenet_state_dict(100, 12, 10, 1);
    m = new dice::CpuModel(dice::densenet_plan(sd), precision);
  }
  return *m;
}

void run_densenet101(benchmark::State& state, dice::Precision precision) {
  const int64_t batch = state.range(0);
  if (!dice::cpu_precision_runs(state, precision)) return;
  dice::CpuModel& m = model(precision);
  std::vector<float> x(static_cast<size_t>(batch * 3 * 32 * 32)), feats(static_cast<size_t>(batch * m.feature_dim()));
  std::mt19937 rng(7);
  std::normal_distribution<float> d;
  for (float& v : x) v = d(rng);
  m.features(x.data(), batch, feats.data());  // warm-up: allocates the plan's buffers
  dice::run_timed_forwards(state, [&] {
    m.features(x.data(), batch, feats.data());
    benchmark::DoNotOptimize(feats.data());
  });
  state.counters["images/s"] = benchmark::Counter(static_cast<double>(batch * state.iterations()),
                                                  benchmark::Counter::kIsRate);
  state.counters["threads"] = dice::num_threads();
}

void BM_DenseNet101Forward(benchmark::State& state) { run_densenet101(state, dice::Precision::kFp32); }
void BM_DenseNet101ForwardBf16(benchmark::State& state) { run_densenet101(state, dice::Precision::kBf16); }

BENCHMARK(BM_DenseNet101Forward)->Arg(1)->Arg(16)->Arg(128)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_DenseNet101ForwardBf16)->Arg(1)->Arg(16)->Arg(128)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();
