// ResNet-50 (torchvision layout, 224x224) forward on the CPU path, images/s. Random weights of
// the real shapes (the ImageNet checkpoint is not in the assets; speed does not depend on the
// values). scripts/bench-cpu-vs-torch.sh runs this next to PyTorch and prints the ratio.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "bench_util.h"
#include "core/parallel.h"
#include "nn/exec_cpu.h"
#include "nn/random_weights.h"
#include "nn/resnet.h"

namespace {

void BM_ResNet50Forward(benchmark::State& state) {
  const int64_t batch = state.range(0);
  static dice::CpuModel* model =
      new dice::CpuModel(dice::resnet_plan(dice::random_resnet_state_dict({3, 4, 6, 3}, 64, 1000, 3)));
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

BENCHMARK(BM_ResNet50Forward)->Arg(1)->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(4.0);

}  // namespace

BENCHMARK_MAIN();
