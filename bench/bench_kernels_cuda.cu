// Google Benchmark of conv2d_cuda on the DenseNet-BC-100 convolutions as the network runs them
// (the op-case table, tests/op_cases.h, that the kernel tests run too: channel slices of the block
// buffers; transitions at 16x16 and 8x8, after their pool) at batch 128 and 1024,
// against cuDNN (kernels/cudnn, fp32 FMA math, NCHW float, fastest algorithm by cudnnFind, i.e.
// what PyTorch's cudnn.benchmark picks) on the same shapes.
//
// Each benchmark first checks its result against conv2d_naive on the first and last image of the
// batch (normalized error < 1e-5; 1e-4 for cuDNN, whose FFT and Winograd algorithms are FMA math
// too but round differently) and refuses to time a wrong kernel. GPU time is measured with
// CUDA events around 10 back-to-back launches (manual time, per launch), so launch gaps of a
// single tiny kernel do not dominate. Where one problem's input and output would fit in three L2
// caches, the launches rotate over enough copies of them that each launch reads from DRAM, as in
// the network. Reported: TFLOP/s and GB/s (compulsory traffic: input, weights and output once).
// conv2d_cuda runs with the fusions the network runs ("fused": the bottleneck 1x1s' BN+ReLU
// prologue and BN+ReLU epilogue; the other rows have none) and without ("plain"), labelled with
// the kernel it picked (conv2d_thin or the implicit GEMM); "gemm_fused" forces the implicit GEMM
// (CudaConvAlgo::kGemm) with the network's fusions, for the ours/GEMM ratio; cuDNN runs the plain convolution only, so
// compare it with "plain". Shape names are the table's less its
// "densenet_" prefix; "count" is how many of the network's 99 convolutions the row stands for.
// Without a GPU every benchmark is skipped with an error message.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bench_util.h"
#include "kernels/conv2d.h"
#include "kernels/conv2d_cuda.h"
#include "gpu/cuda_check.h"
#include "gpu/cuda_memory.h"
#include "kernels/cudnn/conv2d_cudnn.h"
#include "tests/op_cases.h"

namespace dice {
namespace {

constexpr int kLaunchesPerIteration = 10;

using Shape = test::ConvCase;

enum class Impl { kCudaFused, kCudaPlain, kCudnn, kGemmFused };

// Device data of one benchmark case, with host copies for the CPU check. The input and output
// exist in `copies` instances (see the file comment); launch i uses instance i % copies.
struct Problem {
  Conv2dParams p;
  std::vector<float> in, weight, in_scale, in_shift, out_scale, out_shift;
  DeviceBuffer<float> d_weight, d_in_scale, d_in_shift, d_out_scale, d_out_shift;
  std::vector<DeviceBuffer<float>> d_in, d_out;
  int next = 0;

  Problem(const Shape& s, int64_t batch) {
    p = s.params(batch);
    in = test::random_floats(batch * p.in_stride(), 1, -1.0f, 1.0f);
    weight =
        test::random_floats(p.out_channels * p.in_channels * p.kernel * p.kernel, 2, -0.2f, 0.2f);
    in_scale = test::random_floats(p.in_channels, 3, 0.5f, 1.5f);
    in_shift = test::random_floats(p.in_channels, 4, -0.5f, 0.5f);
    out_scale = test::random_floats(p.out_channels, 5, 0.5f, 1.5f);
    out_shift = test::random_floats(p.out_channels, 6, -0.5f, 0.5f);
    d_weight = DeviceBuffer<float>(weight);
    d_in_scale = DeviceBuffer<float>(in_scale);
    d_in_shift = DeviceBuffer<float>(in_shift);
    d_out_scale = DeviceBuffer<float>(out_scale);
    d_out_shift = DeviceBuffer<float>(out_shift);
    const double set_bytes = 4.0 * static_cast<double>(batch * (p.in_stride() + p.out_stride()));
    const int copies = l2_rotation_copies(set_bytes, 64);
    for (int i = 0; i < copies; ++i) {
      d_in.emplace_back(in);
      d_out.emplace_back(batch * p.out_stride());
    }
  }

  // The network's fusions of row `s` (the DenseNet rows use BN+ReLU in and out, nothing else),
  // on the host or the device vectors.
  ConvFusion fusion(const Shape& s, bool device) const {
    DICE_ASSERT((s.fusion & (test::kFuseBias | test::kFuseResidual)) == 0);
    if (device)
      return test::conv_fusion(s.fusion, {d_in_scale.data(), d_in_shift.data(), nullptr,
                                          d_out_scale.data(), d_out_shift.data(), nullptr});
    return test::conv_fusion(s.fusion, {in_scale.data(), in_shift.data(), nullptr, out_scale.data(),
                                        out_shift.data(), nullptr});
  }

  // The buffers of the next launch.
  std::pair<const float*, float*> take() {
    const int i = next;
    next = (next + 1) % static_cast<int>(d_in.size());
    return {d_in[static_cast<size_t>(i)].data(), d_out[static_cast<size_t>(i)].data()};
  }

  double bytes() const {
    return 4.0 * (p.batch * p.in_stride() + static_cast<double>(weight.size()) +
                  p.batch * p.out_stride());
  }

  // Max normalized error of the device output vs conv2d_naive on the first and last image, on
  // the channels written (the rest of a sliced output is the poison).
  double check(const ConvFusion& f) {
    const std::vector<float> got = d_out[0].download();
    Conv2dParams one = p;
    one.batch = 1;
    const int64_t plane = p.out_height() * p.out_width();
    double worst = 0;
    for (int64_t img : {int64_t{0}, p.batch - 1}) {
      std::vector<float> ref(static_cast<size_t>(p.out_channels * plane));
      conv2d_naive(one, in.data() + img * p.in_stride(), weight.data(), ref.data(), f);
      const float* g = got.data() + img * p.out_stride();
      worst = std::max(worst, max_normalized_error(std::vector<float>(g, g + ref.size()), ref));
    }
    return worst;
  }
};

// Google Benchmark calls a benchmark function several times while it sizes the iteration count,
// so the expensive parts (random data of up to ~1 GB at batch 1024, the CPU check, cuDNN's
// algorithm search) are done once per (shape, batch) and kept until the next shape comes. The
// benchmarks of one shape are registered next to each other, so one cached problem suffices.
struct Cached {
  const Shape* shape = nullptr;
  int64_t batch = 0;
  std::unique_ptr<Problem> problem;
  std::unique_ptr<Stream> stream;
  std::unique_ptr<CudnnConv2d> cudnn;
  double err[4] = {-1, -1, -1, -1};  // per Impl; -1 = not checked yet
};

Cached& cache() {
  static Cached c;
  return c;
}

// Frees the cached device memory while the CUDA runtime is still up (not in a static destructor).
void release_cache() {
  Cached& c = cache();
  c.cudnn.reset();
  c.problem.reset();
  c.stream.reset();
  c.shape = nullptr;
}

Cached& cached(const Shape& shape, int64_t batch) {
  Cached& c = cache();
  if (c.shape != &shape || c.batch != batch) {
    c.cudnn.reset();
    c.problem.reset();  // free the previous shape's device memory first
    c.problem = std::make_unique<Problem>(shape, batch);
    if (!c.stream) c.stream = std::make_unique<Stream>();
    c.shape = &shape;
    c.batch = batch;
    for (double& e : c.err) e = -1;
  }
  return c;
}

void bm_conv(benchmark::State& state, const Shape& shape, int64_t batch, Impl impl) {
  if (cuda_device_count() == 0) {
    state.SkipWithError("no CUDA device");
    return;
  }
  try {
    Cached& c = cached(shape, batch);
    Problem& pr = *c.problem;
    const cudaStream_t stream = c.stream->get();
    const bool fused = impl == Impl::kCudaFused || impl == Impl::kGemmFused;
    const ConvFusion f = fused ? pr.fusion(shape, true) : ConvFusion{};
    // kGemmFused: the implicit GEMM conv2d_thin replaced (CudaConvAlgo::kGemm), for the ratio.
    ScopedCudaConvAlgo algo(impl == Impl::kGemmFused ? CudaConvAlgo::kGemm : CudaConvAlgo::kAuto);
    if (impl == Impl::kCudnn && !c.cudnn) c.cudnn = std::make_unique<CudnnConv2d>(pr.p, stream);
    auto launch = [&] {
      const auto [in, out] = pr.take();
      if (impl == Impl::kCudnn)
        c.cudnn->run(in, pr.d_weight.data(), out);
      else
        conv2d_cuda(pr.p, in, pr.d_weight.data(), out, f, stream);
    };

    double& err = c.err[static_cast<int>(impl)];
    if (err < 0) {  // first call for this implementation: check against the CPU, then warm up
      pr.d_out[0].poison();
      pr.next = 0;
      launch();
      DICE_CUDA_CHECK(cudaStreamSynchronize(stream));
      err = pr.check(fused ? pr.fusion(shape, false) : ConvFusion{});
      for (int i = 0; i < 3; ++i) launch();
    }
    if (!(err <= (impl == Impl::kCudnn ? 1e-4 : 1e-5))) {
      char msg[160];
      std::snprintf(msg, sizeof msg, "result differs from conv2d_naive: normalized error %.3g",
                    err);
      state.SkipWithError(msg);
      return;
    }

    Event start, stop;
    double seconds = 0;
    for (auto _ : state) {
      start.record(stream);
      for (int i = 0; i < kLaunchesPerIteration; ++i) launch();
      stop.record(stream);
      const double s = Event::elapsed_ms(start, stop) * 1e-3 / kLaunchesPerIteration;
      state.SetIterationTime(s);
      seconds += s;
    }
    const double iters = static_cast<double>(state.iterations());
    if (seconds > 0) {
      state.counters["TFLOP/s"] = pr.p.flops() * iters / seconds * 1e-12;
      state.counters["GB/s"] = pr.bytes() * iters / seconds * 1e-9;
    }
    state.counters["max_err"] = err;
    state.counters["count"] = shape.count;
    state.counters["copies"] = static_cast<double>(pr.d_in.size());
    if (impl == Impl::kCudnn) state.SetLabel("cudnn " + c.cudnn->algo_name());
    else state.SetLabel(conv2d_cuda_kernel(pr.p, f, pr.d_in[0].data(), pr.d_out[0].data()));
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

int register_all() {
  static const std::vector<Shape> rows = test::densenet_conv_cases();
  for (int64_t batch : {int64_t{128}, int64_t{1024}}) {
    for (const Shape& s : rows) {
      const std::string suffix =
          s.name.substr(std::string("densenet_").size()) + "/batch:" + std::to_string(batch);
      const struct {
        const char* prefix;
        Impl impl;
      } impls[] = {{"conv2d_cuda_fused/", Impl::kCudaFused},
                   {"conv2d_gemm_fused/", Impl::kGemmFused},
                   {"conv2d_cuda_plain/", Impl::kCudaPlain},
                   {"conv2d_cudnn/", Impl::kCudnn}};
      for (const auto& im : impls) {
        // The network never runs a fused prologue on rows without one; the gemm row is the
        // network's conv either way.
        if (im.impl == Impl::kCudaFused && s.fusion == 0) continue;
        const Shape* sp = &s;
        const Impl impl = im.impl;
        benchmark::RegisterBenchmark(
            (im.prefix + suffix).c_str(),
            [sp, batch, impl](benchmark::State& st) { bm_conv(st, *sp, batch, impl); })
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond);
      }
    }
  }
  return 0;
}

}  // namespace
}  // namespace dice

int main(int argc, char** argv) {
  dice::register_all();
  return dice::run_cuda_benchmarks(argc, argv, [] { dice::release_cache(); });
}
