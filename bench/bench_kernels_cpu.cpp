// conv2d_cpu GFLOP/s per instruction-set path on every convolution of the shared op-case table
// (tests/op_cases.h, also what the kernel tests run): DenseNet-BC-100 at batch 128 and ResNet-50
// at batch 8, each with the buffers (channel slices) and the fusions the network runs it with
// (the bottleneck 1x1s with their BN+ReLU prologue and epilogue; ResNet's bias, shortcut and
// ReLU). Before timing, each shape is checked against conv2d_naive at batch 2 (the benchmark
// reports an error instead of a number if it disagrees). Two rates per conv: GFLOP/s (wall clock,
// what the networks see) and GFLOP/cpu-s (per second of CPU time over all threads, i.e. per core,
// which stays meaningful when other processes share the cores); GemmPeak is the GEMM kernel alone
// on a cache-resident tile, the ceiling to read GFLOP/cpu-s against. "count" is how many of the
// network's convolutions the row stands for. ResNet50Convs runs every conv of ResNet-50, each as
// often as the network does. The pools of the table (GB/s) and the ImageNet head are timed too.
// The whole network: bench_densenet_cpu.
// Run: build-*/bench/bench_kernels_cpu [--benchmark_filter='Conv2d/densenet_.*avx512|GemmPeak']
#include <benchmark/benchmark.h>
#include <time.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "bench_util.h"
#include "core/parallel.h"
#include "kernels/conv2d.h"
#include "kernels/gemm_cpu.h"
#include "kernels/head.h"
#include "kernels/pool.h"
#include "tests/op_cases.h"
#include "tests/random.h"

namespace {

using dice::Conv2dParams;
using dice::ConvFusion;
using dice::CpuIsa;
using dice::test::ConvCase;
using dice::test::random_floats;

constexpr int64_t kDenseNetBatch = 128, kResNetBatch = 8;

int64_t bench_batch(const ConvCase& c) {
  return c.net == dice::test::Net::kResNet ? kResNetBatch : kDenseNetBatch;
}

double process_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Buffers and parameters of one conv case at a given batch, with the network's fusions.
struct Problem {
  Conv2dParams p;
  std::vector<float> in, w, out, res, in_scale, in_shift, bias, out_scale, out_shift;
  ConvFusion f;
  dice::Conv2dCpuPacked packed;  // as the networks run it: packed once, for the current ISA
                                 // and conv algorithm (DICE_CPU_CONV)
  Problem(const ConvCase& c, int64_t batch) {
    using namespace dice::test;
    p = c.params(batch);
    in = random_floats(batch * p.in_stride(), 1, -1, 1);
    const float ws = 1.0f / std::sqrt(static_cast<float>(c.in_channels * c.kernel * c.kernel));
    w = random_floats(c.out_channels * c.in_channels * c.kernel * c.kernel, 2, -ws, ws);
    out.assign(static_cast<size_t>(batch * p.out_stride()), 0.0f);
    in_scale = random_floats(c.in_channels, 3, 0.5f, 1.5f);
    in_shift = random_floats(c.in_channels, 4, -0.5f, 0.5f);
    bias = random_floats(c.out_channels, 5, -0.5f, 0.5f);
    out_scale = random_floats(c.out_channels, 6, 0.5f, 1.5f);
    out_shift = random_floats(c.out_channels, 7, -0.5f, 0.5f);
    // The table's ResNet rows all carry the shortcut, but the network adds it only after a 1x1.
    const bool residual = (c.fusion & kFuseResidual) && !(c.net == Net::kResNet && c.kernel == 3);
    if (residual) res = random_floats(batch * p.out_stride(), 8, -1, 1);
    f = conv_fusion(c.fusion, {in_scale.data(), in_shift.data(), bias.data(), out_scale.data(),
                               out_shift.data(), res.empty() ? nullptr : res.data()});
    packed = dice::conv2d_cpu_pack(p, w.data());
  }
};

// Normalized error of conv2d_cpu against conv2d_naive at batch 2, on the written slice.
double check_against_naive(const ConvCase& c) {
  Problem a(c, 2);
  std::vector<float> want(a.out.size());
  dice::conv2d_naive(a.p, a.in.data(), a.w.data(), want.data(), a.f);
  dice::conv2d_cpu(a.p, a.in.data(), a.w.data(), a.out.data(), a.f);
  return dice::max_normalized_error(a.out, want);
}

void BM_Conv2d(benchmark::State& state, const ConvCase& s, CpuIsa isa) {
  if (!dice::cpu_isa_supported(isa)) {
    state.SkipWithError("ISA not supported by this CPU");
    return;
  }
  const CpuIsa old = dice::force_cpu_isa(isa);
  const double err = check_against_naive(s);
  if (!(err < 1e-5)) {
    dice::force_cpu_isa(old);
    state.SkipWithError(
        ("mismatch against conv2d_naive: normalized error " + std::to_string(err)).c_str());
    return;
  }
  Problem pr(s, bench_batch(s));
  dice::conv2d_cpu(pr.p, pr.in.data(), pr.packed, pr.out.data(), pr.f);  // warm-up
  const double cpu0 = process_cpu_seconds();
  for (auto _ : state) {
    dice::conv2d_cpu(pr.p, pr.in.data(), pr.packed, pr.out.data(), pr.f);
    benchmark::DoNotOptimize(pr.out.data());
    benchmark::ClobberMemory();
  }
  const double cpu = process_cpu_seconds() - cpu0;
  dice::force_cpu_isa(old);
  const double gflop = pr.p.flops() * 1e-9 * static_cast<double>(state.iterations());
  state.counters["GFLOP/s"] = benchmark::Counter(gflop, benchmark::Counter::kIsRate);
  // Per second of CPU time summed over all threads: the per-core rate, which stays meaningful
  // when other processes share the cores (wall-clock rates then drop, this one barely does).
  state.counters["GFLOP/cpu-s"] = cpu > 0 ? gflop / cpu : 0.0;
  state.counters["threads"] = dice::num_threads();
  state.counters["count"] = s.count;
  state.SetLabel(dice::cpu_isa_name(isa));
}

// Every convolution of ResNet-50 (the shared table, each row run `count` times) with the network's
// fusions, batch 8: the conv part of a CPU ResNet-50 forward, as images/s.
void BM_ResNet50Convs(benchmark::State& state) {
  const int64_t batch = kResNetBatch;
  const std::vector<ConvCase> rows = dice::test::resnet50_conv_cases();
  std::vector<std::unique_ptr<Problem>> problems;
  double flops = 0;
  for (const ConvCase& r : rows) {
    problems.push_back(std::make_unique<Problem>(r, batch));
    flops += r.count * problems.back()->p.flops();
  }
  for (auto& pr : problems)  // warm-up: first touch of the outputs, per-thread buffers
    dice::conv2d_cpu(pr->p, pr->in.data(), pr->packed, pr->out.data(), pr->f);
  const double cpu0 = process_cpu_seconds();
  for (auto _ : state) {
    for (size_t i = 0; i < problems.size(); ++i) {
      Problem& pr = *problems[i];
      for (int c = 0; c < rows[i].count; ++c)
        dice::conv2d_cpu(pr.p, pr.in.data(), pr.packed, pr.out.data(), pr.f);
    }
    benchmark::ClobberMemory();
  }
  const double cpu = process_cpu_seconds() - cpu0;
  const double n = static_cast<double>(state.iterations());
  state.counters["images/s"] = benchmark::Counter(batch * n, benchmark::Counter::kIsRate);
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9 * n, benchmark::Counter::kIsRate);
  state.counters["GFLOP/cpu-s"] = cpu > 0 ? flops * 1e-9 * n / cpu : 0.0;
  state.SetLabel(dice::cpu_isa().name);
}
BENCHMARK(BM_ResNet50Convs)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);

// The ceiling: the GEMM kernel alone on one cache-resident 48 x 256 x 128 tile, one thread, no
// packing or memory traffic. Conv GFLOP/cpu-s divided by this is the fraction of reachable peak.
void BM_GemmPeak(benchmark::State& state, CpuIsa isa) {
  if (!dice::cpu_isa_supported(isa)) {
    state.SkipWithError("ISA not supported by this CPU");
    return;
  }
  const CpuIsa old = dice::force_cpu_isa(isa);
  const dice::GemmIsa& g = dice::cpu_isa();
  dice::force_cpu_isa(old);
  const int64_t m = 48, k = 256, n = 128;
  std::vector<float> a = random_floats(m * k, 1, -1, 1), b = random_floats(k * n, 2, -1, 1);
  std::vector<float> c(static_cast<size_t>(m * n));
  dice::GemmTile t;
  t.m = m, t.n = n, t.k = k, t.a = a.data(), t.b = b.data(), t.b_kstride = g.nr;
  t.b_chunk = k * g.nr, t.c = c.data(), t.ldc = n;
  const double cpu0 = process_cpu_seconds();
  for (auto _ : state) {
    g.gemm(t);
    benchmark::DoNotOptimize(c.data());
  }
  const double cpu = process_cpu_seconds() - cpu0;
  const double gflop = 2e-9 * m * k * n * static_cast<double>(state.iterations());
  state.counters["GFLOP/s"] = benchmark::Counter(gflop, benchmark::Counter::kIsRate);
  state.counters["GFLOP/cpu-s"] = cpu > 0 ? gflop / cpu : 0.0;
  state.SetLabel(g.name);
}

// A pool of the table at the benchmark batch: DenseNet's transition pools (the 2x2/2 average of
// relu(bn(x))) and ResNet-50's stem max pool, in GB/s of compulsory traffic.
void BM_Pool(benchmark::State& state, const dice::test::PoolCase& c) {
  const bool max = c.net == dice::test::Net::kResNet;
  const dice::Pool2dParams p = c.params(max ? kResNetBatch : kDenseNetBatch);
  std::vector<float> in = random_floats(p.batch * p.in_stride(), 1, -1, 1);
  std::vector<float> out(static_cast<size_t>(p.batch * p.out_stride()));
  std::vector<float> sc = random_floats(c.channels, 2, 0.5f, 1.5f),
                     sh = random_floats(c.channels, 3, -0.5f, 0.5f);
  for (auto _ : state) {
    if (max)
      dice::max_pool2d_cpu(p, in.data(), out.data());
    else
      dice::avg_pool2d_cpu(p, in.data(), out.data(), sc.data(), sh.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GB/s"] = benchmark::Counter(
      4e-9 * static_cast<double>(in.size() + out.size()) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate);
  state.SetLabel(max ? "max" : "avg of relu(bn(x))");
}

// A head of the table at batch 128 (the ImageNet one: 2048 -> 1000 with a DICE mask).
void BM_Head(benchmark::State& state, const dice::test::HeadCase& c) {
  dice::HeadParams p;
  p.batch = 128, p.in_features = c.features, p.classes = c.classes, p.clip = c.clip;
  std::vector<float> x = random_floats(p.batch * p.in_features, 1, 0, 2);
  std::vector<float> w = random_floats(p.classes * p.in_features, 2, -0.05f, 0.05f);
  std::vector<float> b = random_floats(p.classes, 3, -0.1f, 0.1f);
  std::vector<uint8_t> mask = dice::test::random_mask(p.classes * p.in_features, 4, c.mask_keep);
  std::vector<float> logits(static_cast<size_t>(p.batch * p.classes)), energy(128), msp(128);
  std::vector<int32_t> argmax(128);
  dice::HeadOutputs o{logits.data(), energy.data(), msp.data(), argmax.data()};
  for (auto _ : state) {
    dice::head_cpu(p, x.data(), w.data(), b.data(), c.mask_keep > 0 ? mask.data() : nullptr, o);
    benchmark::DoNotOptimize(logits.data());
  }
  state.counters["images/s"] = benchmark::Counter(128.0 * static_cast<double>(state.iterations()),
                                                  benchmark::Counter::kIsRate);
}

const int kRegistered = [] {
  static const std::vector<ConvCase> rows = [] {
    std::vector<ConvCase> v = dice::test::densenet_conv_cases();
    for (const ConvCase& r : dice::test::resnet50_conv_cases()) v.push_back(r);
    return v;
  }();
  for (CpuIsa isa : {CpuIsa::kAvx512, CpuIsa::kAvx2, CpuIsa::kScalar}) {
    benchmark::RegisterBenchmark((std::string("GemmPeak/") + dice::cpu_isa_name(isa)).c_str(),
                                 BM_GemmPeak, isa)
        ->UseRealTime();
    for (const ConvCase& s : rows) {
      // The scalar path is a fallback: time it only on the DenseNet shapes.
      if (isa == CpuIsa::kScalar && s.net != dice::test::Net::kDenseNet) continue;
      std::string name = "Conv2d/" + s.name + "/" + dice::cpu_isa_name(isa);
      benchmark::RegisterBenchmark(name.c_str(), BM_Conv2d, s, isa)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime()
          ->MinTime(isa == CpuIsa::kScalar ? 0.5 : 1.0);
    }
  }
  static const std::vector<dice::test::PoolCase> pools = dice::test::pool_cases();
  for (const dice::test::PoolCase& c : pools)
    if (c.net != dice::test::Net::kOdd)
      benchmark::RegisterBenchmark(("Pool/" + c.name).c_str(), BM_Pool, c)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
  static const std::vector<dice::test::HeadCase> heads = dice::test::head_cases();
  for (const dice::test::HeadCase& c : heads)
    if (c.name == "resnet_dice_react")
      benchmark::RegisterBenchmark(("Head/" + c.name).c_str(), BM_Head, c)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
  return 0;
}();

}  // namespace

BENCHMARK_MAIN();
