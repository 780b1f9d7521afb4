// conv2d_cpu GFLOP/s on the layer shapes that dominate the two networks, per instruction-set path:
// DenseNet-BC-100 at batch 128 (the bottleneck 1x1 convs with their BN+ReLU prologue/epilogue,
// reading a channel slice of the block buffer; the 3x3 48->12 convs writing into one; the stem and
// a transition) and a few ResNet-50 layers at batch 8. Before timing, each shape is checked
// against conv2d_naive at batch 2 (the benchmark reports an error instead of a number if it
// disagrees). Two rates per conv: GFLOP/s (wall clock, what the networks see) and GFLOP/cpu-s
// (per second of CPU time over all threads, i.e. per core, which stays meaningful when other
// processes share the cores); GemmPeak is the GEMM kernel alone on a cache-resident tile, the
// ceiling to read GFLOP/cpu-s against. ResNet50Convs runs every conv of ResNet-50 (the shared
// table in kernels/conv_shapes.h). The pools (GB/s) and the ImageNet head are timed too.
// The whole network: bench_densenet_cpu.
// Run: build-*/bench/bench_kernels_cpu [--benchmark_filter='Conv2d/dn_.*avx512|GemmPeak']
#include <benchmark/benchmark.h>
#include <time.h>

#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/parallel.h"
#include "kernels/conv2d.h"
#include "kernels/conv_shapes.h"
#include "kernels/gemm_cpu.h"
#include "kernels/head.h"
#include "kernels/pool.h"

namespace {

using dice::Conv2dParams;
using dice::ConvFusion;
using dice::CpuIsa;

struct Shape {
  const char* name;
  int64_t batch, c, h, w, m, k, s, p;
  int64_t in_channels_total;   // width of the buffer the input is a slice of (0: dense)
  int64_t out_channels_total;  // width of the buffer the output is a slice of (0: dense)
  bool in_bn, out_bn_relu, residual;
};

const Shape kShapes[] = {
    // DenseNet-BC-100, batch 128: block 1 middle layer (c = 120 of 216), block 2 and 3 last layers.
    {"dn_b1_1x1_120to48_32x32", 128, 120, 32, 32, 48, 1, 1, 0, 216, 0, true, true, false},
    {"dn_b1_3x3_48to12_32x32", 128, 48, 32, 32, 12, 3, 1, 1, 0, 216, false, false, false},
    {"dn_b2_1x1_288to48_16x16", 128, 288, 16, 16, 48, 1, 1, 0, 300, 0, true, true, false},
    {"dn_b2_3x3_48to12_16x16", 128, 48, 16, 16, 12, 3, 1, 1, 0, 300, false, false, false},
    {"dn_b3_1x1_330to48_8x8", 128, 330, 8, 8, 48, 1, 1, 0, 342, 0, true, true, false},
    {"dn_b3_3x3_48to12_8x8", 128, 48, 8, 8, 12, 3, 1, 1, 0, 342, false, false, false},
    {"dn_stem_3x3_3to24_32x32", 128, 3, 32, 32, 24, 3, 1, 1, 0, 216, false, false, false},
    {"dn_trans1_1x1_216to108_16x16", 128, 216, 16, 16, 108, 1, 1, 0, 0, 300, false, false, false},
    // ResNet-50, batch 8.
    {"rn_stem_7x7s2_3to64_224", 8, 3, 224, 224, 64, 7, 2, 3, 0, 0, false, true, false},
    {"rn_l1_1x1_64to256_56", 8, 64, 56, 56, 256, 1, 1, 0, 0, 0, false, true, true},
    {"rn_l1_3x3_64to64_56", 8, 64, 56, 56, 64, 3, 1, 1, 0, 0, false, true, false},
    {"rn_l2_3x3s2_128to128_56", 8, 128, 56, 56, 128, 3, 2, 1, 0, 0, false, true, false},
    {"rn_l3_1x1_1024to256_14", 8, 1024, 14, 14, 256, 1, 1, 0, 0, 0, false, true, false},
    {"rn_l4_3x3_512to512_7", 8, 512, 7, 7, 512, 3, 1, 1, 0, 0, false, true, false},
};

double process_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

std::vector<float> random_vector(int64_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(rng);
  return v;
}

// Buffers and parameters of one shape at a given batch.
struct Problem {
  Conv2dParams p;
  std::vector<float> in, w, out, res, in_scale, in_shift, out_scale, out_shift;
  ConvFusion f;
  Problem(const Shape& s, int64_t batch) {
    p.batch = batch, p.in_channels = s.c, p.height = s.h, p.width = s.w;
    p.out_channels = s.m, p.kernel = s.k, p.stride = s.s, p.pad = s.p;
    if (s.in_channels_total) p.in_batch_stride = s.in_channels_total * s.h * s.w;
    if (s.out_channels_total)
      p.out_batch_stride = s.out_channels_total * p.out_height() * p.out_width();
    in = random_vector(batch * p.in_stride(), 1, -1, 1);
    const float ws = 1.0f / std::sqrt(static_cast<float>(s.c * s.k * s.k));
    w = random_vector(s.m * s.c * s.k * s.k, 2, -ws, ws);
    out.assign(static_cast<size_t>(batch * p.out_stride()), 0.0f);
    in_scale = random_vector(s.c, 3, 0.5f, 1.5f);
    in_shift = random_vector(s.c, 4, -0.5f, 0.5f);
    out_scale = random_vector(s.m, 5, 0.5f, 1.5f);
    out_shift = random_vector(s.m, 6, -0.5f, 0.5f);
    if (s.in_bn) f.in_scale = in_scale.data(), f.in_shift = in_shift.data();
    if (s.out_bn_relu)
      f.out_scale = out_scale.data(), f.out_shift = out_shift.data(), f.out_relu = true;
    if (s.residual) {
      res = random_vector(batch * p.out_stride(), 7, -1, 1);
      f.residual = res.data();
    }
  }
};

// Normalized error of conv2d_cpu against conv2d_naive at batch 2.
double check_against_naive(const Shape& s) {
  Problem a(s, 2);
  std::vector<float> want(a.out.size());
  dice::conv2d_naive(a.p, a.in.data(), a.w.data(), want.data(), a.f);
  dice::conv2d_cpu(a.p, a.in.data(), a.w.data(), a.out.data(), a.f);
  double max_ref = 0, max_diff = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    max_ref = std::fmax(max_ref, std::fabs(want[i]));
    max_diff = std::fmax(max_diff, std::fabs(static_cast<double>(a.out[i]) - want[i]));
  }
  if (std::isnan(max_diff)) return INFINITY;
  return max_ref > 0 ? max_diff / max_ref : max_diff;
}

void BM_Conv2d(benchmark::State& state, const Shape& s, CpuIsa isa) {
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
  Problem pr(s, s.batch);
  dice::conv2d_cpu(pr.p, pr.in.data(), pr.w.data(), pr.out.data(), pr.f);  // warm-up
  const double cpu0 = process_cpu_seconds();
  for (auto _ : state) {
    dice::conv2d_cpu(pr.p, pr.in.data(), pr.w.data(), pr.out.data(), pr.f);
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
  state.SetLabel(dice::cpu_isa_name(isa));
}

// Every convolution of ResNet-50 (the shared shape table, each shape run `count` times) with its
// BN+ReLU epilogue, batch 8: the conv part of a CPU ResNet-50 forward, as images/s.
void BM_ResNet50Convs(benchmark::State& state) {
  const int64_t batch = 8;
  std::vector<std::unique_ptr<Problem>> problems;
  double flops = 0;
  for (const dice::ConvShape2d& r : dice::kResNet50ConvShapes) {
    const Shape s{r.name,   batch,    r.in_channels, r.height, r.width, r.out_channels,
                  r.kernel, r.stride, r.pad,         0,        0,       false,
                  true,     false};
    problems.push_back(std::make_unique<Problem>(s, batch));
    flops += r.count * problems.back()->p.flops();
  }
  for (auto& pr : problems)  // warm-up: first touch of the outputs, per-thread buffers
    dice::conv2d_cpu(pr->p, pr->in.data(), pr->w.data(), pr->out.data(), pr->f);
  const double cpu0 = process_cpu_seconds();
  for (auto _ : state) {
    for (size_t i = 0; i < problems.size(); ++i) {
      Problem& pr = *problems[i];
      for (int c = 0; c < dice::kResNet50ConvShapes[i].count; ++c)
        dice::conv2d_cpu(pr.p, pr.in.data(), pr.w.data(), pr.out.data(), pr.f);
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
  std::vector<float> a = random_vector(m * k, 1, -1, 1), b = random_vector(k * n, 2, -1, 1);
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

// DenseNet transition pool (relu(bn(x)) then 2x2/2 average), block 1 at batch 128.
void BM_AvgPoolDenseNetTransition(benchmark::State& state) {
  dice::Pool2dParams p;
  p.batch = 128, p.channels = 216, p.height = 32, p.width = 32;
  std::vector<float> in = random_vector(p.batch * p.in_stride(), 1, -1, 1);
  std::vector<float> out(static_cast<size_t>(p.batch * p.out_stride()));
  std::vector<float> sc = random_vector(216, 2, 0.5f, 1.5f),
                     sh = random_vector(216, 3, -0.5f, 0.5f);
  for (auto _ : state) {
    dice::avg_pool2d_cpu(p, in.data(), out.data(), sc.data(), sh.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GB/s"] = benchmark::Counter(
      4e-9 * static_cast<double>(in.size() + out.size()) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate);
}
BENCHMARK(BM_AvgPoolDenseNetTransition)->Unit(benchmark::kMillisecond)->UseRealTime();

// ResNet-50 stem max pool 3x3/2 pad 1 on 112x112, batch 8.
void BM_MaxPoolResNetStem(benchmark::State& state) {
  dice::Pool2dParams p;
  p.batch = 8, p.channels = 64, p.height = 112, p.width = 112, p.kernel = 3, p.stride = 2,
  p.pad = 1;
  std::vector<float> in = random_vector(p.batch * p.in_stride(), 1, -1, 1);
  std::vector<float> out(static_cast<size_t>(p.batch * p.out_stride()));
  for (auto _ : state) {
    dice::max_pool2d_cpu(p, in.data(), out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GB/s"] = benchmark::Counter(
      4e-9 * static_cast<double>(in.size() + out.size()) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate);
}
BENCHMARK(BM_MaxPoolResNetStem)->Unit(benchmark::kMillisecond)->UseRealTime();

// ImageNet head: 2048 -> 1000 with a DICE mask, batch 128.
void BM_HeadImageNet(benchmark::State& state) {
  dice::HeadParams p;
  p.batch = 128, p.in_features = 2048, p.classes = 1000;
  std::vector<float> x = random_vector(p.batch * p.in_features, 1, 0, 2);
  std::vector<float> w = random_vector(p.classes * p.in_features, 2, -0.05f, 0.05f);
  std::vector<float> b = random_vector(p.classes, 3, -0.1f, 0.1f);
  std::vector<uint8_t> mask(static_cast<size_t>(p.classes * p.in_features));
  for (size_t i = 0; i < mask.size(); ++i) mask[i] = (i * 2654435761u >> 7) % 10 < 3;
  std::vector<float> logits(static_cast<size_t>(p.batch * p.classes)), energy(128), msp(128);
  std::vector<int32_t> argmax(128);
  dice::HeadOutputs o{logits.data(), energy.data(), msp.data(), argmax.data()};
  for (auto _ : state) {
    dice::head_cpu(p, x.data(), w.data(), b.data(), mask.data(), o);
    benchmark::DoNotOptimize(logits.data());
  }
  state.counters["images/s"] = benchmark::Counter(128.0 * static_cast<double>(state.iterations()),
                                                  benchmark::Counter::kIsRate);
}
BENCHMARK(BM_HeadImageNet)->Unit(benchmark::kMillisecond)->UseRealTime();

const int kRegistered = [] {
  for (CpuIsa isa : {CpuIsa::kAvx512, CpuIsa::kAvx2, CpuIsa::kScalar}) {
    benchmark::RegisterBenchmark((std::string("GemmPeak/") + dice::cpu_isa_name(isa)).c_str(),
                                 BM_GemmPeak, isa)
        ->UseRealTime();
    for (const Shape& s : kShapes) {
      // The scalar path is a fallback: time it only on the DenseNet shapes.
      if (isa == CpuIsa::kScalar && s.name[0] == 'r') continue;
      std::string name = std::string("Conv2d/") + s.name + "/" + dice::cpu_isa_name(isa);
      benchmark::RegisterBenchmark(name.c_str(), BM_Conv2d, s, isa)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime()
          ->MinTime(isa == CpuIsa::kScalar ? 0.5 : 1.0);
    }
  }
  return 0;
}();

}  // namespace

BENCHMARK_MAIN();
