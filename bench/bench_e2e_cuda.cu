// End-to-end forward timings of the two networks on the GPU, one JSON line per result, for
// scripts/gpu-check.sh (which prints its tables from those lines, so a step killed at its time
// limit loses only what it had not yet written):
//
//   bench_e2e_cuda --model densenet101|resnet50 --modes ours_fp32,ours_fp16,cudnn_fp32,...
//                  (ours-nchw_fp16: ResNet in float32 NCHW on conv2d_tc; ours-gemm_fp32: every
//                  fp32 conv on conv2d_cuda's implicit GEMM, no conv2d_thin; ours-wgmma_fp16,
//                  ours-wgmma-ws_fp16: conv2d_nhwc on its sm_90a wgmma mainloops)
//                  --batches 1,256,1024 [--jsonl FILE] [--warmup-ms 200] [--replays 10]
//                  [--min-ms 300]
//   bench_e2e_cuda --probe [--jsonl FILE]
//
// --probe: one JSON line of what the machine offers (or why no GPU can be used): device, SMs, L2,
// memory, driver and runtime versions, and the result of one small conv2d_cuda launch checked
// against conv2d_naive; gpu-check.sh runs it plain and under compute-sanitizer to learn whether
// the sanitizer works on this machine before spending a step on it.
//
// Protocol, per (mode, batch): the model is made and checked once against the CPU network on a
// few images (features, normalized error; a mode over its tolerance is reported "wrong" and not
// timed); the input is uploaded to the device (the forward reads it there, as PyTorch's baseline
// does); forwards run back to back for at least --warmup-ms (and 3 forwards), so clocks are up
// and graphs are captured; then at least --replays forwards, and as many more as fill --min-ms,
// are timed one by one with CUDA events without host synchronisation between them. Reported: the
// median time and the min-max spread, as ms per forward and images/s. Our models replay CUDA
// graphs; the cuDNN backend (NCHW float, cudnn.benchmark-style algorithm search) runs plain
// launches, as PyTorch eager does. Activations are much larger than the L2 cache at the batch
// sizes that matter (DenseNet-101 at 256: 226 MB in block 1), so inputs are not rotated.
// Weights are random with the real shapes (speed does not depend on their values).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bench_util.h"
#include "core/error.h"
#include "kernels/conv2d.h"
#include "kernels/conv2d_cuda.h"
#include "kernels/conv2d_nhwc.h"
#include "gpu/cuda_check.h"
#include "gpu/cuda_memory.h"
#include "nn/densenet.h"
#include "nn/exec_cpu.h"
#include "nn/exec_cuda.h"
#include "nn/model.h"
#include "nn/random_weights.h"
#include "nn/resnet.h"

namespace dice {
namespace {

struct Options {
  bool probe = false;
  std::string model = "densenet101", jsonl;
  std::vector<std::string> modes{"ours_fp32"};
  std::vector<int64_t> batches{256};
  double warmup_ms = 200, min_ms = 300;
  int replays = 10;
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--probe") {
      o.probe = true;
      continue;
    }
    if (i + 1 >= argc) throw_error("bench_e2e_cuda: ", a, " needs a value");
    const std::string v = argv[++i];
    if (a == "--model") o.model = v;
    else if (a == "--modes") o.modes = split(v);
    else if (a == "--batches") {
      o.batches.clear();
      for (const std::string& b : split(v)) o.batches.push_back(std::stoll(b));
    } else if (a == "--jsonl") o.jsonl = v;
    else if (a == "--warmup-ms") o.warmup_ms = std::stod(v);
    else if (a == "--min-ms") o.min_ms = std::stod(v);
    else if (a == "--replays") o.replays = std::stoi(v);
    else throw_error("bench_e2e_cuda: unknown option ", a, " (see the comment at the top of bench/bench_e2e_cuda.cu)");
  }
  if (o.model != "densenet101" && o.model != "resnet50")
    throw_error("bench_e2e_cuda: --model is densenet101 or resnet50, not ", o.model);
  return o;
}

// n images uniform in [-2, 2), about the range of normalized pixels.
std::vector<float> random_images(int64_t n, int64_t image, uint64_t state) {
  return lcg_uniform(n * image, state, -2.0f, 2.0f);
}

// A mode name "ours_fp16", "ours-nchw_fp16" (a --gpu-layout after the backend) or
// "ours-gemm_fp32" (conv2d_cuda's implicit GEMM for every conv, CudaConvAlgo::kGemm: the kernel
// before conv2d_thin), "ours-wgmma_fp16" / "ours-wgmma-ws_fp16" (conv2d_nhwc's wgmma mainloops)
// -> options; throws on anything else.
struct Mode {
  ModelOptions options;
  bool gemm = false;
  NhwcMainloop mainloop = NhwcMainloop::kMma;
};
Mode parse_mode(const std::string& mode) {
  const size_t u = mode.find('_');
  if (u == std::string::npos)
    throw_error("bench_e2e_cuda: mode ", mode, " is not BACKEND[-LAYOUT|-gemm]_PRECISION");
  Mode m;
  const std::string impl = mode.substr(0, u);
  const size_t dash = impl.find('-');
  m.options.backend = parse_backend(impl.substr(0, dash));
  if (dash != std::string::npos) {
    const std::string variant = impl.substr(dash + 1);
    if (variant == "gemm")
      m.gemm = true;
    else if (variant == "wgmma" || variant == "wgmma-ws")
      m.mainloop = parse_nhwc_mainloop(variant.c_str(), "bench_e2e_cuda mode");
    else
      m.options.layout = parse_gpu_layout(variant);
  }
  m.options.precision = parse_precision(mode.substr(u + 1));
  return m;
}

// Features' normalized error a mode may have against the CPU network before it counts as wrong:
// exact float32 for ours, cuDNN's own float32 algorithms (FFT, Winograd) a little looser, and the
// tensor-core modes by their operand rounding over the whole depth.
double tolerance(const ModelOptions& o) {
  switch (o.precision) {
    case Precision::kFp32: return o.backend == Backend::kOurs ? 1e-4 : 1e-3;
    case Precision::k3xTf32: return 1e-4;
    case Precision::kTf32: return 2e-2;
    default: return 5e-2;
  }
}

struct Timing {
  std::vector<double> ms;  // per forward, in launch order
  double warmup_ms = 0;
  int warmup_forwards = 0;
};

Timing time_forwards(CudaModel& m, int64_t batch, const Options& o) {
  Timing t;
  const cudaStream_t s = m.stream();
  m.enqueue_forward_slot0(batch);  // plans, captures
  DICE_CUDA_CHECK(cudaStreamSynchronize(s));
  Event a, b;
  a.record(s);
  while (t.warmup_forwards < 3 || t.warmup_ms < o.warmup_ms) {
    for (int i = 0; i < 4; ++i, ++t.warmup_forwards) m.enqueue_forward_slot0(batch);
    b.record(s);
    t.warmup_ms = Event::elapsed_ms(a, b);
  }
  // Rounds of back-to-back forwards, each between its own pair of events, read after the round.
  constexpr int kRound = 16;
  std::vector<Event> ev(2 * kRound);
  double total = 0;
  while (static_cast<int>(t.ms.size()) < o.replays || total < o.min_ms) {
    for (int i = 0; i < kRound; ++i) {
      ev[2 * i].record(s);
      m.enqueue_forward_slot0(batch);
      ev[2 * i + 1].record(s);
    }
    for (int i = 0; i < kRound; ++i) {
      t.ms.push_back(Event::elapsed_ms(ev[2 * i], ev[2 * i + 1]));
      total += t.ms.back();
    }
    if (t.ms.size() >= 2000) break;
  }
  return t;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// One JSON line to stdout and, when asked, appended to the results file (flushed at once).
void emit(const Options& o, const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
  if (o.jsonl.empty()) return;
  FILE* f = std::fopen(o.jsonl.c_str(), "a");
  if (!f) throw_error(o.jsonl, ": cannot append results: ", std::strerror(errno));
  std::fprintf(f, "%s\n", line.c_str());
  std::fclose(f);
}

std::string json_head(const Options& o, const std::string& mode, int64_t batch) {
  const size_t u = mode.find('_');
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "{\"kind\": \"e2e\", \"model\": \"%s\", \"impl\": \"%s\", \"precision\": \"%s\", "
                "\"batch\": %lld, \"device\": \"%s\"",
                o.model.c_str(), mode.substr(0, u).c_str(), mode.substr(u + 1).c_str(),
                static_cast<long long>(batch), cuda_device_name(current_cuda_device()).c_str());
  return buf;
}

int probe(const Options& o) {
  int driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  cudaGetLastError();
  const std::string why = cuda_unavailable_reason();
  std::string line = "{\"kind\": \"probe\", \"driver\": \"" + cuda_version_string(driver) + "\", \"runtime\": \"" +
                     cuda_version_string(runtime) + "\"";
  if (!why.empty()) {
    emit(o, line + ", \"gpu\": false, \"why\": \"" + why + "\"}");
    return 2;
  }
  cudaDeviceProp prop;
  DICE_CUDA_CHECK(cudaGetDeviceProperties(&prop, current_cuda_device()));
  // One small convolution with every fusion, against the CPU spec.
  Conv2dParams p;
  p.batch = 2, p.in_channels = 5, p.height = 9, p.width = 7, p.out_channels = 19;
  p.kernel = 3, p.stride = 1, p.pad = 1;
  const std::vector<float> x = random_images(1, p.batch * p.in_stride(), 3);
  const std::vector<float> w = random_images(1, p.out_channels * p.in_channels * 9, 4);
  std::vector<float> want(static_cast<size_t>(p.batch * p.out_stride()));
  conv2d_naive(p, x.data(), w.data(), want.data(), ConvFusion{});
  DeviceBuffer<float> dx(x), dw(w), dy(p.batch * p.out_stride());
  dy.poison();
  conv2d_cuda(p, dx.data(), dw.data(), dy.data(), ConvFusion{});
  DICE_CUDA_CHECK(cudaDeviceSynchronize());
  const double err = max_normalized_error(dy.download(), want);
  char buf[512];
  std::snprintf(buf, sizeof buf,
                ", \"gpu\": true, \"device\": \"%s\", \"cc\": \"%d.%d\", \"sms\": %d, "
                "\"l2_mb\": %.1f, \"memory_gb\": %.1f, \"kernel_err\": %.3g, \"kernel_ok\": %s}",
                prop.name, prop.major, prop.minor, prop.multiProcessorCount, prop.l2CacheSize / 1048576.0,
                static_cast<double>(prop.totalGlobalMem) / 1e9, err, err < 1e-5 ? "true" : "false");
  emit(o, line + buf);
  return err < 1e-5 ? 0 : 1;
}

int run(const Options& o) {
  if (o.probe) return probe(o);
  const std::string why = cuda_unavailable_reason();
  if (!why.empty()) {
    std::fprintf(stderr, "bench_e2e_cuda: %s\n", why.c_str());
    return 2;
  }
  const bool dense = o.model == "densenet101";
  const StateDict sd = dense ? random_densenet_state_dict(100, 12, 10, 1) : random_resnet50_trained_scale(7);
  const int64_t side = dense ? 32 : 224, image = 3 * side * side;
  const int64_t check_n = dense ? 8 : 2;
  const std::vector<float> check_x = random_images(check_n, image, 5);
  std::vector<float> want;
  {
    auto cpu = std::make_unique<CpuModel>(dense ? densenet_plan(sd) : resnet_plan(sd));
    want.resize(static_cast<size_t>(check_n * cpu->feature_dim()));
    cpu->features(check_x.data(), check_n, want.data());
  }
  int failures = 0;
  for (const std::string& mode : o.modes) {
    try {
      const Mode parsed = parse_mode(mode);
      const ModelOptions& mo = parsed.options;
      // Held while the model is made, checked and timed (its CUDA graphs keep the kernels).
      ScopedCudaConvAlgo algo(parsed.gemm ? CudaConvAlgo::kGemm : CudaConvAlgo::kAuto);
      ScopedNhwcMainloop mainloop(parsed.mainloop);
      if (parsed.mainloop != NhwcMainloop::kMma && !nhwc_wgmma_unavailable().empty())
        throw_error("wgmma: ", nhwc_wgmma_unavailable());
      std::unique_ptr<CudaModel> m;
      if (dense) {
        if (mo.backend != Backend::kOurs || mo.precision != Precision::kFp32)
          throw_error("DenseNet-101 on the GPU runs ours_fp32 only");
        m = std::make_unique<CudaModel>(densenet_plan(sd));
      } else {
        m = std::make_unique<CudaModel>(resnet_plan(sd), mo);
      }
      std::vector<float> got(want.size(), NAN);
      m->features(check_x.data(), check_n, got.data());
      const double err = max_normalized_error(got, want);
      char extra[160];
      std::snprintf(extra, sizeof extra, ", \"check_err\": %.3g, \"check_tol\": %.3g", err, tolerance(mo));
      if (!(err < tolerance(mo))) {
        emit(o, json_head(o, mode, 0) + extra + ", \"status\": \"wrong\"}");
        ++failures;
        continue;
      }
      for (int64_t batch : o.batches) {
        m->prepare(random_images(batch, image, 11 + static_cast<uint64_t>(batch)).data(), batch);
        const Timing t = time_forwards(*m, batch, o);
        const double med = median(t.ms);
        const double lo = *std::min_element(t.ms.begin(), t.ms.end());
        const double hi = *std::max_element(t.ms.begin(), t.ms.end());
        char buf[512];
        std::snprintf(buf, sizeof buf,
                      ", \"status\": \"ok\", \"ms_median\": %.5g, \"ms_min\": %.5g, \"ms_max\": %.5g, "
                      "\"images_per_s\": %.6g, \"images_per_s_min\": %.6g, \"images_per_s_max\": %.6g, "
                      "\"replays\": %zu, \"warmup_forwards\": %d, \"warmup_ms\": %.4g, \"graphs\": %s}",
                      med, lo, hi, batch / med * 1e3, batch / hi * 1e3, batch / lo * 1e3, t.ms.size(),
                      t.warmup_forwards, t.warmup_ms, m->graphs_active() ? "true" : "false");
        emit(o, json_head(o, mode, batch) + extra + buf);
      }
    } catch (const std::exception& e) {
      std::string msg = e.what();
      for (char& c : msg)
        if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) c = '\'';
      emit(o, json_head(o, mode, 0) + ", \"status\": \"error\", \"error\": \"" + msg + "\"}");
      ++failures;
    }
  }
  return failures ? 1 : 0;
}

}  // namespace
}  // namespace dice

int main(int argc, char** argv) {
  try {
    return dice::run(dice::parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
}
