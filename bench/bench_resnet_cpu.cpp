// ResNet-50 (torchvision layout, 224x224) forward on the CPU path, images/s. Random weights of
// the real shapes (the ImageNet checkpoint is not in the assets; speed does not depend on the
// values). scripts/bench-cpu-vs-torch.sh runs this next to PyTorch and prints the ratio.
// BM_ResNet50ForwardBf16: the same in the CPU's bf16 mode (--precision bf16; skipped, saying so,
// without AVX512-BF16).
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "bench_util.h"
#include "core/parallel.h"
#include "nn/exec_cpu.h"
#include "nn/random_weights.h"
#include "nn/resnet.h"

namespace {

void run_resnet50(benchmark::State& state, dice::Precision precision) {
  const int64_t batch = state.range(0);
  if (!dice::cpu_precision_runs(state, precision)) return;
  static dice::CpuModel* models[2] = {nullptr, nullptr};
  dice::CpuModel*& model = models[precision == dice::Precision::kBf16 ? 1 : 0];
  if (!model)
    model = new dice::CpuModel(
        dice::resnet_plan(dice::random_resnet_state_dict({3, 4, 6, 3}, 64, 1000, 3)), precision);
  std::vector<float> x(static_cast<size_t>(batch * 3 * 224 * 224));
  std::vector<float> feats(static_cast<size_t>(batch * model->feature_dim()));
  std::mt19937 rng(7);
  std::normal_distribution<float> d;
  for (float& v : x) v = d(rng);
  model->features(x.data(), batch, feats.data());  // warm-up: sizes the buffers
  dice::run_timed_forwards(state, [&] {
    model->features(x.data(), batch, feats.data());
    benchmark::DoNotOptimize(feats.data());
  });
  state.counters["images/s"] = benchmark::Counter(static_cast<double>(batch * state.iterations()),
                                                  benchmark::Counter::kIsRate);
  state.counters["threads"] = dice::num_threads();
}

void BM_ResNet50Forward(benchmark::State& state) { run_resnet50(state, dice::Precision::kFp32); }
void BM_ResNet50ForwardBf16(benchmark::State& state) { run_resnet50(state, dice::Precision::kBf16); }

BENCHMARK(BM_ResNet50Forward)->Arg(1)->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(4.0);
BENCHMARK(BM_ResNet50ForwardBf16)->Arg(1)->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(4.0);

}  // namespace

BENCHMARK_MAIN();
