// The cores' fp32 FMA peak, the first ceiling scripts/bench-cpu-peers.sh reports networks against:
// a loop of fused multiply-adds on registers only (no memory traffic), 12 independent vector
// accumulators per thread so that the FMA latency is hidden on two FMA ports, on the widest
// vectors the CPU has (AVX-512, else AVX2+FMA, else scalar), on 1 thread and on every core.
// Counter: GFLOP/s (2 per lane per FMA, summed over threads).
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <cstdint>
#include <thread>

namespace {

constexpr int64_t kIters = 1 << 20;

__attribute__((target("avx512f"))) float fma_avx512(int64_t iters) {
  __m512 a[12];
  for (int j = 0; j < 12; ++j) a[j] = _mm512_set1_ps(1.0f + 0.001f * static_cast<float>(j));
  const __m512 m = _mm512_set1_ps(0.9999999f), c = _mm512_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i)
    for (int j = 0; j < 12; ++j) a[j] = _mm512_fmadd_ps(a[j], m, c);
  __m512 s = a[0];
  for (int j = 1; j < 12; ++j) s = _mm512_add_ps(s, a[j]);
  float out[16];
  _mm512_storeu_ps(out, s);
  float sum = 0;
  for (float v : out) sum += v;
  return sum;
}

__attribute__((target("avx2,fma"))) float fma_avx2(int64_t iters) {
  __m256 a[12];
  for (int j = 0; j < 12; ++j) a[j] = _mm256_set1_ps(1.0f + 0.001f * static_cast<float>(j));
  const __m256 m = _mm256_set1_ps(0.9999999f), c = _mm256_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i)
    for (int j = 0; j < 12; ++j) a[j] = _mm256_fmadd_ps(a[j], m, c);
  __m256 s = a[0];
  for (int j = 1; j < 12; ++j) s = _mm256_add_ps(s, a[j]);
  float out[8];
  _mm256_storeu_ps(out, s);
  float sum = 0;
  for (float v : out) sum += v;
  return sum;
}

float fma_scalar(int64_t iters) {
  float a[12];
  for (int j = 0; j < 12; ++j) a[j] = 1.0f + 0.001f * static_cast<float>(j);
  for (int64_t i = 0; i < iters; ++i)
    for (float& v : a) v = v * 0.9999999f + 1e-7f;
  float s = 0;
  for (float v : a) s += v;
  return s;
}

void BM_FmaPeak(benchmark::State& state) {
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f");
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const int lanes = avx512 ? 16 : avx2 ? 8 : 1;
  for (auto _ : state) {
    const float r = avx512 ? fma_avx512(kIters) : avx2 ? fma_avx2(kIters) : fma_scalar(kIters);
    benchmark::DoNotOptimize(r);
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * 12 * lanes * kIters * 1e-9 * static_cast<double>(state.iterations()),
                                                 benchmark::Counter::kIsRate);
  if (state.thread_index() == 0) state.SetLabel(avx512 ? "avx512" : avx2 ? "avx2" : "scalar");
}

}  // namespace

BENCHMARK(BM_FmaPeak)->DenseThreadRange(1, static_cast<int>(std::thread::hardware_concurrency()))->UseRealTime();

BENCHMARK_MAIN();
