// Architecture detection, device names and the model factory (see model.h).
#include "nn/model.h"

#include "core/error.h"
#include "gpu/cuda_check.h"
#include "kernels/gemm_cpu.h"
#include "nn/densenet.h"
#include "nn/exec_cpu.h"
#include "nn/resnet.h"
#include "nn/wideresnet.h"
#ifdef DICE_HAVE_CUDA
#include "nn/exec_cuda.h"
#endif

namespace dice {

const char* device_name(Device device) { return device == Device::kCuda ? "cuda" : "cpu"; }

Device parse_device(const std::string& name, int* index) {
  if (index) *index = -1;
  if (name == "cpu") return Device::kCpu;
  if (name == "cuda") return Device::kCuda;
  if (name.rfind("cuda:", 0) == 0) {  // PyTorch's spelling of "GPU N"
    const std::string n = name.substr(5);
    if (n.empty() || n.size() > 4 || n.find_first_not_of("0123456789") != std::string::npos)
      throw_error("device '", name, "': expected cuda:N with a device number N");
    if (index) *index = std::stoi(n);
    return Device::kCuda;
  }
  throw_error("unknown device '", name, "'; known: cpu, cuda, cuda:N");
}

void check_device_available(Device device) {
  if (device != Device::kCuda) return;
#ifndef DICE_HAVE_CUDA
  throw_error("--device cuda: this build has no CUDA backend; rebuild with nvcc installed "
              "(cmake -DDICE_CUDA=ON) or use --device cpu");
#else
  if (cuda_device_count() == 0)
    throw_error("--device cuda: no CUDA device found (no GPU or no driver); use --device cpu");
#endif
}

const char* backend_name(Backend backend) { return backend == Backend::kCudnn ? "cudnn" : "ours"; }

Backend parse_backend(const std::string& name) {
  if (name == "ours") return Backend::kOurs;
  if (name == "cudnn") return Backend::kCudnn;
  throw_error("unknown backend '", name, "'; known: ours, cudnn");
}

const char* gpu_layout_name(GpuLayout layout) {
  switch (layout) {
    case GpuLayout::kAuto: return "auto";
    case GpuLayout::kNchw: return "nchw";
    case GpuLayout::kNhwc: return "nhwc";
  }
  return "?";
}

GpuLayout parse_gpu_layout(const std::string& name) {
  if (name == "auto") return GpuLayout::kAuto;
  if (name == "nchw") return GpuLayout::kNchw;
  if (name == "nhwc") return GpuLayout::kNhwc;
  throw_error("unknown GPU layout '", name, "'; known: auto, nchw, nhwc");
}

bool cudnn_backend_built() {
#if defined(DICE_HAVE_CUDA) && defined(DICE_HAVE_CUDNN)
  return true;
#else
  return false;
#endif
}

void check_model_options(const std::string& family, Device device, const ModelOptions& options) {
  const bool exact = options.precision == Precision::kFp32;
  // 3xtf32 is float32-accurate (tensor cores, three tf32 products per term): DenseNet and
  // WideResNet may run it where they run nothing else but fp32.
  const bool fp32_accurate = exact || options.precision == Precision::k3xTf32;
  const bool cudnn = options.backend == Backend::kCudnn;
  if (options.layout == GpuLayout::kNhwc &&
      (device != Device::kCuda || cudnn ||
       (options.precision != Precision::kFp16 && options.precision != Precision::kBf16)))
    throw_error("--gpu-layout nhwc runs our GPU kernels at fp16 or bf16 only; add --device cuda "
                "--precision fp16 (or bf16), or use --gpu-layout auto");
  if (device == Device::kCpu) {
    if (options.precision == Precision::kBf16) {
      require_cpu_isa_bf16();
    } else if (!exact) {
      throw_error("--precision ", precision_name(options.precision),
                  " runs on the GPU only (tensor cores); the CPU runs fp32 or bf16; use --device "
                  "cuda or --precision fp32");
    }
    if (cudnn) throw_error("--backend cudnn needs --device cuda; the CPU path has one backend");
    return;
  }
  if (family != "resnet" && (!fp32_accurate || cudnn))
    throw_error("--device cuda: ", family == "wideresnet" ? "WideResNet" : "DenseNet",
                " runs fp32 (or 3xtf32) on our kernels only; drop --precision ",
                precision_name(options.precision), " / --backend ", backend_name(options.backend));
  if (cudnn && !cudnn_backend_built())
    throw_error("--backend cudnn: this build's model library is not linked with cuDNN "
                "(dice_nn needs dice_vendor and DICE_HAVE_CUDNN); use --backend ours");
  if (cudnn && options.precision != Precision::kFp32 && options.precision != Precision::kTf32)
    throw_error("--backend cudnn runs fp32 or tf32 (the network keeps float activations); got --precision ",
                precision_name(options.precision));
}

void Model::submit(const float*, int64_t) {
  throw_error(name(), ": submit() is not supported (pipeline_depth() is 0); call features()");
}
void Model::collect(float*) {
  throw_error(name(), ": collect() is not supported (pipeline_depth() is 0); call features()");
}

// The families make_model knows: how each is recognised, named and built. Adding a network is a
// builder (nn/<family>.cpp) and a row here.
namespace {
struct Family {
  const char* name;
  bool (*detect)(const StateDict&);
  std::string (*short_name)(const StateDict&);
  Plan (*build)(const StateDict&);
};

int64_t count_blocks(const StateDict& sd, const std::string& prefix) {
  int64_t n = 0;
  while (sd.has(prefix + std::to_string(n) + ".conv1.weight")) ++n;
  return n;
}

const Family kFamilies[] = {
    {"densenet",
     [](const StateDict& sd) { return sd.has("block1.layer.0.conv1.weight") && sd.has("trans1.conv1.weight"); },
     // DenseNet3(depth): (depth - 4) / 6 bottleneck layers per block; named depth + 1 as the paper
     // does ("DenseNet-101" is depth 100).
     [](const StateDict& sd) { return "densenet" + std::to_string(6 * count_blocks(sd, "block1.layer.") + 5); },
     densenet_plan},
    {"resnet",
     [](const StateDict& sd) { return sd.has("layer1.0.conv1.weight") && sd.has("bn1.running_var"); },
     [](const StateDict& sd) {
       std::vector<int64_t> stage_blocks;
       for (int stage = 1; stage <= 4; ++stage)
         stage_blocks.push_back(count_blocks(sd, "layer" + std::to_string(stage) + "."));
       return resnet_depth_name(sd.has("layer1.0.conv3.weight"), stage_blocks);
     },
     resnet_plan},
    {"wideresnet",
     [](const StateDict& sd) {
       return sd.has("block1.layer.0.conv1.weight") && sd.has("block2.layer.0.convShortcut.weight") &&
              !sd.has("trans1.conv1.weight");
     },
     wideresnet_short_name, wideresnet_plan},
};

const Family* detect_family(const StateDict& sd) {
  for (const Family& f : kFamilies)
    if (f.detect(sd)) return &f;
  return nullptr;
}

// The family an --model name belongs to: "wrn40_2" -> wideresnet, "resnet50" -> resnet.
const Family* family_of_name(const std::string& arch) {
  if (arch == "wideresnet" || arch.rfind("wrn", 0) == 0) return &kFamilies[2];
  for (const Family& f : kFamilies)
    if (arch.rfind(f.name, 0) == 0) return &f;
  return nullptr;
}
}  // namespace

std::string detect_architecture(const StateDict& sd) {
  const Family* f = detect_family(sd);
  return f ? f->name : "";
}

std::string checkpoint_short_name(const StateDict& sd) {
  const Family* f = detect_family(sd);
  return f ? f->short_name(sd) : "";
}

std::unique_ptr<Model> make_model(const std::string& arch, const StateDict& sd, Device device,
                                  const ModelOptions& options) {
  const Family* family = nullptr;
  if (arch == "auto") {
    family = detect_family(sd);
    if (!family)
      throw_error(sd.source, ": cannot tell the architecture from the keys; pass --model densenet101");
  } else {
    family = family_of_name(arch);
    if (!family)
      throw_error("unknown model '", arch, "'; known: densenet101 (DenseNet-BC L=100 k=12), "
                  "resnet18/34/50/101/152, wrn40_2/wrn28_10 (WideResNet), auto");
  }
  check_model_options(family->name, device, options);
  // A named depth ("resnet50") must be what the checkpoint holds: a ResNet-18 file run as
  // --model resnet50 would otherwise evaluate silently under the wrong name.
  // (A checkpoint of another family is left to the builder, whose error says what it lacks.)
  if (arch != "auto" && arch != family->name && detect_family(sd) == family) {
    const std::string held = family->short_name(sd);
    if (held != arch)
      throw_error(sd.source, ": this checkpoint holds a ", held, ", not a ", arch, "; pass --model ",
                  held, " (or --model auto)");
  }
  if (device == Device::kCuda) check_device_available(device);
  Plan plan = family->build(sd);
#ifdef DICE_HAVE_CUDA
  if (device == Device::kCuda) return std::make_unique<CudaModel>(std::move(plan), options);
#endif
  return std::make_unique<CpuModel>(std::move(plan), options.precision);
}

}  // namespace dice
