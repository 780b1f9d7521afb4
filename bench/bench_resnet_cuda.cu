// ResNet-50 on the GPU: our kernels against cuDNN, per convolution shape and end to end.
//   Conv/<shape>/<impl>_<precision>/batch:256   one convolution of the shared ResNet-50 table
//       (tests/op_cases.h, resnet50_conv_cases); impl = ours (conv2d_cuda for fp32, conv2d_tc otherwise, with the
//       bias + ReLU epilogue) or cudnn (CudnnConvLayer with the same epilogue through
//       cudnnConvolutionBiasActivationForward, fastest algorithm by cudnnFind). TFLOP/s over 10
//       back-to-back launches timed with CUDA events (one warm-up launch before), rotating over
//       copies of the input and output where one set would fit in three L2 caches (the half
//       tensors of the 7x7 layers would otherwise be timed from L2).
//       Each library in the layout it is good at: cuDNN's fp32/tf32 runs use NCHW float, its
//       fp16/bf16 runs NHWC half tensors (PyTorch's channels_last); ours read and write NCHW
//       float32 and round while staging (see kernels/conv2d_tc.cu), so their fp16/bf16 rows move
//       twice the activation bytes: part of what the ratio measures.
//   ResNet50/<backend>_<precision>/batch:N   device-only forward at N = 1, 32, 256 (graph replay
//       for ours, plain launches for cudnn, input already on the GPU), images/s.
//   ResNet50Layers/ours_<precision>/batch:256   one plain-launch forward with events per op,
//       summed per stage (stem, maxpool, layer1..4, head) in ms.
//   ResNet50Agreement/<backend>_<precision>   on 64 random images: top-1 agreement with ours_fp32
//       (%), the largest logit deviation and the largest energy-score deviation, normalized by the
//       largest fp32 logit / energy magnitude: what a non-exact mode costs.
// Every convolution benchmark first checks image 0 of its output against conv2d_naive (tensor-core
// modes against the exactly rounded operands) and refuses to time a wrong kernel; the end-to-end
// ones check ours_fp32 against the CPU ResNet on 2 images. Weights are random with the ResNet-50
// shapes (no ImageNet checkpoint is needed; the speed does not depend on the values), the last
// BatchNorm of each block scaled down as in trained networks so activations stay in fp16 range.
// Without a GPU every benchmark is skipped with an error message.
#include <benchmark/benchmark.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "bench_util.h"
#include "kernels/conv2d.h"
#include "kernels/conv2d_cuda.h"
#include "kernels/conv2d_tc.h"
#include "gpu/cuda_check.h"
#include "gpu/cuda_memory.h"
#include "kernels/cudnn/conv2d_cudnn.h"
#include "kernels/head.h"
#include "nn/model.h"
#include "nn/random_weights.h"
#include "nn/resnet.h"
#include "tests/op_cases.h"
#include "nn/exec_cpu.h"
#include "nn/exec_cuda.h"

namespace dice {
namespace {

constexpr int kLaunches = 10;
constexpr int64_t kConvBatch = 256;
constexpr int64_t kImage = 3 * 224 * 224;
const Precision kPrecisions[] = {Precision::kFp32, Precision::kTf32, Precision::kFp16,
                                 Precision::kBf16};

bool need_gpu(benchmark::State& state) {
  if (cuda_device_count() > 0) return true;
  state.SkipWithError("no CUDA device");
  return false;
}

// ---- per-shape convolutions ----

// Host floats -> device buffer of the precision's tensor type for cuDNN (float for fp32/tf32).
DeviceBuffer<uint8_t> upload_as(const std::vector<float>& v, Precision p) {
  if (p == Precision::kFp16 || p == Precision::kBf16) {
    std::vector<uint8_t> bytes(v.size() * 2);
    for (size_t i = 0; i < v.size(); ++i) {
      uint16_t h;
      if (p == Precision::kFp16) {
        const __half x = __float2half_rn(v[i]);
        std::memcpy(&h, &x, 2);
      } else {
        const __nv_bfloat16 x = __float2bfloat16_rn(v[i]);
        std::memcpy(&h, &x, 2);
      }
      std::memcpy(bytes.data() + 2 * i, &h, 2);
    }
    return DeviceBuffer<uint8_t>(bytes);
  }
  std::vector<uint8_t> bytes(v.size() * 4);
  std::memcpy(bytes.data(), v.data(), bytes.size());
  return DeviceBuffer<uint8_t>(bytes);
}

float element_as_float(const uint8_t* p, Precision prec) {
  if (prec == Precision::kFp16) {
    __half h;
    std::memcpy(&h, p, 2);
    return __half2float(h);
  }
  if (prec == Precision::kBf16) {
    __nv_bfloat16 h;
    std::memcpy(&h, p, 2);
    return __bfloat162float(h);
  }
  float f;
  std::memcpy(&f, p, 4);
  return f;
}

// [n][c][h][w] -> [n][h][w][c] (for weights: [k][c][r][s] -> [k][r][s][c]).
std::vector<float> to_nhwc(const std::vector<float>& v, int64_t n, int64_t c, int64_t h, int64_t w) {
  std::vector<float> out(v.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t y = 0; y < h * w; ++y) out[static_cast<size_t>((i * h * w + y) * c + ch)] = v[static_cast<size_t>((i * c + ch) * h * w + y)];
  return out;
}

// One image [h][w][c] -> [c][h][w].
std::vector<float> to_nchw(const std::vector<float>& v, int64_t c, int64_t h, int64_t w) {
  std::vector<float> out(v.size());
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t y = 0; y < h * w; ++y) out[static_cast<size_t>(ch * h * w + y)] = v[static_cast<size_t>(y * c + ch)];
  return out;
}

void bm_conv(benchmark::State& state, const test::ConvCase& shape, bool cudnn, Precision prec) {
  if (!need_gpu(state)) return;
  try {
    if (is_tensor_core(prec) && !cudnn && !tensor_cores_unsupported(0).empty()) {
      state.SkipWithError(tensor_cores_unsupported(0).c_str());
      return;
    }
    const Conv2dParams p = shape.params(kConvBatch);
    const int64_t in_n = p.batch * p.in_stride(), out_n = p.batch * p.out_stride();
    const int64_t w_n = p.out_channels * p.in_channels * p.kernel * p.kernel;
    const auto x = lcg_uniform(in_n, 1, -1.0f, 1.0f);
    const auto w = lcg_uniform(w_n, 2, -0.1f, 0.1f);
    const auto bias = lcg_uniform(p.out_channels, 3, -0.5f, 0.5f);
    Stream stream;

    // Reference for image 0: naive conv of the (rounded, for our tensor-core modes) operands with
    // the epilogue both run (bias, ReLU).
    Conv2dParams p1 = shape.params(1);
    std::vector<float> x0(x.begin(), x.begin() + p1.in_stride()), w0 = w;
    if (is_tensor_core(prec) && !cudnn) {
      for (float& v : x0) v = round_to_precision(v, prec);
      for (float& v : w0) v = round_to_precision(v, prec);
    }
    ConvFusion hf;
    hf.bias = bias.data(), hf.out_relu = true;
    std::vector<float> want(static_cast<size_t>(p1.out_stride()));
    conv2d_naive(p1, x0.data(), w0.data(), want.data(), hf);
    // Tolerance: exact-operand references agree to float summation order; cuDNN's tensor-core
    // modes are compared with the unrounded problem.
    const double tol = (cudnn && is_tensor_core(prec)) ? (prec == Precision::kBf16 ? 2e-2 : 5e-3) : 1e-4;

    // run(in, out): one launch on the given buffers; checked once on (in0, out0), then timed
    // rotating over enough copies that the working set does not sit in L2 (see the file comment).
    std::function<void(const void*, void*)> run;
    const void* in0 = nullptr;
    void* out0 = nullptr;
    size_t in_bytes = 0, out_bytes = 0;
    std::vector<float> got(static_cast<size_t>(p1.out_stride()));
    std::unique_ptr<CudnnContext> ctx;
    std::unique_ptr<CudnnConvLayer> layer;
    DeviceBuffer<uint8_t> dx, dw, db, dy, packed;
    DeviceBuffer<float> fx, fw, fb, fy;
    if (cudnn) {
      ctx = std::make_unique<CudnnContext>(stream.get());
      // Half data in NHWC (channels_last), the layout cuDNN is fast at for it; float in NCHW.
      const bool nhwc = prec == Precision::kFp16 || prec == Precision::kBf16;
      layer = std::make_unique<CudnnConvLayer>(*ctx, p, prec, nhwc ? CudnnLayout::kNhwc : CudnnLayout::kNchw);
      dx = upload_as(nhwc ? to_nhwc(x, p.batch, p.in_channels, p.height, p.width) : x, prec);
      dw = upload_as(nhwc ? to_nhwc(w, p.out_channels, p.in_channels, p.kernel, p.kernel) : w, prec);
      db = upload_as(bias, prec);
      const size_t eb = nhwc ? 2 : 4;
      dy = DeviceBuffer<uint8_t>(out_n * static_cast<int64_t>(eb));
      run = [&](const void* i, void* o) { layer->run_fused(i, dw.data(), o, db.data(), nullptr, true); };
      in0 = dx.data(), out0 = dy.data(), in_bytes = dx.bytes(), out_bytes = dy.bytes();
      run(in0, out0);
      stream.synchronize();
      std::vector<uint8_t> head(static_cast<size_t>(p1.out_stride()) * eb);
      copy_to_host(head.data(), dy.data(), static_cast<int64_t>(head.size()));
      DICE_CUDA_CHECK(cudaDeviceSynchronize());
      for (size_t i = 0; i < got.size(); ++i) got[i] = element_as_float(head.data() + i * eb, prec);
      if (nhwc) got = to_nchw(got, p.out_channels, p.out_height(), p.out_width());
      state.SetLabel(layer->algo_name() + (nhwc ? " nhwc" : " nchw") +
                     (layer->fused_call_used() ? " fused" : " separate"));
    } else {
      fx = DeviceBuffer<float>(x);
      fw = DeviceBuffer<float>(w);
      fb = DeviceBuffer<float>(bias);
      fy = DeviceBuffer<float>(out_n);
      ConvFusion f;
      f.bias = fb.data(), f.out_relu = true;
      if (is_tensor_core(prec)) packed = DeviceBuffer<uint8_t>(conv2d_tc_pack_weights(p, prec, w.data()));
      run = [&, f](const void* i, void* o) {
        if (is_tensor_core(prec))
          conv2d_tc(p, prec, static_cast<const float*>(i), packed.data(), static_cast<float*>(o), f, stream);
        else
          conv2d_cuda(p, static_cast<const float*>(i), fw.data(), static_cast<float*>(o), f, stream);
      };
      in0 = fx.data(), out0 = fy.data(), in_bytes = fx.bytes(), out_bytes = fy.bytes();
      run(in0, out0);
      stream.synchronize();
      copy_to_host(got.data(), fy.data(), static_cast<int64_t>(got.size()));
      DICE_CUDA_CHECK(cudaDeviceSynchronize());
    }
    const double err = max_normalized_error(got, want);
    if (!(err < tol)) {
      state.SkipWithError(("result check failed: normalized error " + std::to_string(err)).c_str());
      return;
    }
    const int copies = l2_rotation_copies(static_cast<double>(in_bytes + out_bytes), 16);
    std::vector<DeviceBuffer<uint8_t>> extra;
    std::vector<std::pair<const void*, void*>> sets{{in0, out0}};
    for (int c = 1; c < copies; ++c) {
      extra.emplace_back(static_cast<int64_t>(in_bytes));
      DICE_CUDA_CHECK(cudaMemcpy(extra.back().data(), in0, in_bytes, cudaMemcpyDeviceToDevice));
      const void* in = extra.back().data();
      extra.emplace_back(static_cast<int64_t>(out_bytes));
      sets.emplace_back(in, extra.back().data());
    }
    size_t next = 0;
    Event start, stop;
    for (auto _ : state) {
      start.record(stream);
      for (int i = 0; i < kLaunches; ++i, next = (next + 1) % sets.size()) run(sets[next].first, sets[next].second);
      stop.record(stream);
      state.SetIterationTime(Event::elapsed_ms(start, stop) * 1e-3 / kLaunches);
    }
    state.counters["TFLOP/s"] = benchmark::Counter(p.flops() * 1e-12, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["count"] = shape.count;
    state.counters["copies"] = copies;
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

// ---- the network ----

const StateDict& weights() {
  static const StateDict sd = random_resnet50_trained_scale(7);
  return sd;
}

struct Mode {
  Backend backend;
  Precision precision;
  std::string name() const { return std::string(backend_name(backend)) + "_" + precision_name(precision); }
};

std::vector<Mode> modes() {
  std::vector<Mode> m;
  for (Precision p : kPrecisions) m.push_back({Backend::kOurs, p});
  m.push_back({Backend::kCudnn, Precision::kFp32});
  m.push_back({Backend::kCudnn, Precision::kTf32});
  return m;
}

// Models are made on first use, kept (planning is expensive) and released in main().
std::map<std::string, std::unique_ptr<CudaModel>>& models() {
  static std::map<std::string, std::unique_ptr<CudaModel>> m;
  return m;
}
CudaModel& model(const Mode& mode) {
  auto& m = models()[mode.name()];
  if (!m) {
    ModelOptions o;
    o.backend = mode.backend, o.precision = mode.precision;
    m = std::make_unique<CudaModel>(resnet_plan(weights()), o);
  }
  return *m;
}

std::string skip_reason(const Mode& mode) {
  if (mode.backend == Backend::kCudnn && !cudnn_backend_built())
    return "dice_nn is not linked with cuDNN in this build (see nn/model.h cudnn_backend_built)";
  if (mode.backend == Backend::kOurs && is_tensor_core(mode.precision))
    return tensor_cores_unsupported(0);
  return {};
}

// ours_fp32 against the CPU ResNet on 2 images, once; nothing is timed if it fails.
double fp32_check_error() {
  static const double err = [] {
    const std::vector<float> x = lcg_uniform(2 * kImage, 11, -2.0f, 2.0f);
    CpuModel cpu(resnet_plan(weights()));
    std::vector<float> want(static_cast<size_t>(2 * cpu.feature_dim())), got(want.size());
    cpu.features(x.data(), 2, want.data());
    model({Backend::kOurs, Precision::kFp32}).features(x.data(), 2, got.data());
    return max_normalized_error(got, want);
  }();
  return err;
}

bool checked(benchmark::State& state, const Mode& mode) {
  if (!need_gpu(state)) return false;
  const std::string why = skip_reason(mode);
  if (!why.empty()) {
    state.SkipWithError(why.c_str());
    return false;
  }
  const double err = fp32_check_error();
  if (!(err < 1e-4)) {
    state.SkipWithError(("ours_fp32 differs from the CPU ResNet: normalized error " + std::to_string(err)).c_str());
    return false;
  }
  return true;
}

void bm_forward(benchmark::State& state, const Mode& mode, int64_t batch) {
  try {
    if (!checked(state, mode)) return;
    CudaModel& m = model(mode);
    m.prepare(lcg_uniform(batch * kImage, 5, -2.0f, 2.0f).data(), batch);
    m.enqueue_forward_slot0(batch);  // captures the graph (ours) / plans the layers (cudnn)
    DICE_CUDA_CHECK(cudaStreamSynchronize(m.stream()));
    Event start, stop;
    const int reps = batch >= 256 ? 1 : batch >= 32 ? 3 : 10;
    for (auto _ : state) {
      start.record(m.stream());
      for (int i = 0; i < reps; ++i) m.enqueue_forward_slot0(batch);
      stop.record(m.stream());
      state.SetIterationTime(Event::elapsed_ms(start, stop) * 1e-3 / reps);
    }
    state.counters["images/s"] = benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

void bm_layers(benchmark::State& state, const Mode& mode, int64_t batch) {
  try {
    if (!checked(state, mode)) return;
    CudaModel& m = model(mode);
    m.prepare(lcg_uniform(batch * kImage, 5, -2.0f, 2.0f).data(), batch);
    std::map<std::string, double> stage_ms;
    for (auto _ : state) {
      double total = 0;
      stage_ms.clear();
      for (const OpTime& op : m.profile_ops(batch)) {
        const std::string stage = op.name.substr(0, op.name.find('.'));
        stage_ms[stage] += op.ms;
        total += op.ms;
      }
      state.SetIterationTime(total * 1e-3);
    }
    for (const auto& [stage, ms] : stage_ms) state.counters[stage + "_ms"] = ms;
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

// Logits and energies of 64 random images through `mode` and the CPU head.
void logits_of(const Mode& mode, std::vector<float>& logits, std::vector<float>& energy,
               std::vector<int32_t>& argmax) {
  constexpr int64_t kN = 64;
  const std::vector<float> x = lcg_uniform(kN * kImage, 23, -2.0f, 2.0f);
  CudaModel& m = model(mode);
  std::vector<float> f(static_cast<size_t>(kN * m.feature_dim()));
  m.features(x.data(), kN, f.data());
  logits.assign(static_cast<size_t>(kN * m.num_classes()), 0);
  energy.assign(kN, 0);
  argmax.assign(kN, 0);
  HeadParams hp;
  hp.batch = kN, hp.in_features = m.feature_dim(), hp.classes = m.num_classes();
  HeadOutputs out;
  out.logits = logits.data(), out.energy = energy.data(), out.argmax = argmax.data();
  head_cpu(hp, f.data(), m.fc_weight().ptr(), m.fc_bias().ptr(), nullptr, out);
}

void bm_agreement(benchmark::State& state, const Mode& mode) {
  try {
    if (!checked(state, mode)) return;
    std::vector<float> l32, e32, l, e;
    std::vector<int32_t> a32, a;
    logits_of({Backend::kOurs, Precision::kFp32}, l32, e32, a32);
    for (auto _ : state) logits_of(mode, l, e, a);
    int agree = 0;
    for (size_t i = 0; i < a.size(); ++i) agree += a[i] == a32[i];
    state.counters["top1_agree_%"] = 100.0 * agree / static_cast<double>(a.size());
    state.counters["max_logit_dev"] = max_normalized_error(l, l32);
    state.counters["max_energy_dev"] = max_normalized_error(e, e32);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

void register_all() {
  static const std::vector<test::ConvCase> shapes = test::resnet50_conv_cases();
  for (const test::ConvCase& s : shapes)
    for (Precision p : kPrecisions)
      for (bool cudnn : {false, true}) {
        const std::string name = std::string("Conv/") + s.name + "/" + (cudnn ? "cudnn_" : "ours_") +
                                 precision_name(p) + "/batch:" + std::to_string(kConvBatch);
        // A fixed iteration count: Google Benchmark then calls bm_conv once, instead of repeating
        // its setup (host data, the CPU check, cudnnFind) while it sizes the run on scarce GPU time.
        benchmark::RegisterBenchmark(name.c_str(), [&s, cudnn, p](benchmark::State& st) { bm_conv(st, s, cudnn, p); })
            ->UseManualTime()
            ->Iterations(5)
            ->Unit(benchmark::kMicrosecond);
      }
  for (const Mode& m : modes())
    for (int64_t batch : {1, 32, 256})
      benchmark::RegisterBenchmark(("ResNet50/" + m.name() + "/batch:" + std::to_string(batch)).c_str(),
                                   [m, batch](benchmark::State& st) { bm_forward(st, m, batch); })
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
  for (Precision p : kPrecisions) {
    const Mode m{Backend::kOurs, p};
    benchmark::RegisterBenchmark(("ResNet50Layers/" + m.name() + "/batch:256").c_str(),
                                 [m](benchmark::State& st) { bm_layers(st, m, 256); })
        ->UseManualTime()
        ->Iterations(1)
        ->Unit(benchmark::kMillisecond);
  }
  for (const Mode& m : modes()) {
    if (m.backend == Backend::kOurs && m.precision == Precision::kFp32) continue;
    benchmark::RegisterBenchmark(("ResNet50Agreement/" + m.name()).c_str(),
                                 [m](benchmark::State& st) { bm_agreement(st, m); })
        ->Iterations(1)
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace
}  // namespace dice

int main(int argc, char** argv) {
  dice::register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("device", dice::cuda_device_count() ? dice::cuda_device_name() : "none");
  benchmark::RunSpecifiedBenchmarks();
  dice::models().clear();  // free device memory before the runtime shuts down
  benchmark::Shutdown();
  return 0;
}
