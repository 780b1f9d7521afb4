// Architecture detection, device names and the model factory (see model.h).
#include "nn/model.h"

#include "core/error.h"
#include "kernels/cuda_check.h"
#include "nn/densenet.h"
#include "nn/resnet.h"
#ifdef DICE_HAVE_CUDA
#include "nn/densenet_cuda.h"
#include "nn/resnet_cuda.h"
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

bool cudnn_backend_built() {
#if defined(DICE_HAVE_CUDA) && defined(DICE_HAVE_CUDNN)
  return true;
#else
  return false;
#endif
}

void check_model_options(const std::string& family, Device device, const ModelOptions& options) {
  const bool exact = options.precision == Precision::kFp32;
  const bool cudnn = options.backend == Backend::kCudnn;
  if (device == Device::kCpu) {
    if (!exact)
      throw_error("--precision ", precision_name(options.precision),
                  " runs on the GPU only (tensor cores); use --device cuda or --precision fp32");
    if (cudnn) throw_error("--backend cudnn needs --device cuda; the CPU path has one backend");
    return;
  }
  if (family.rfind("densenet", 0) == 0 && (!exact || cudnn))
    throw_error("--device cuda: DenseNet runs fp32 on our kernels only; drop --precision ",
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

std::string detect_architecture(const StateDict& sd) {
  if (sd.has("block1.layer.0.conv1.weight") && sd.has("trans1.conv1.weight")) return "densenet";
  if (sd.has("layer1.0.conv1.weight") && sd.has("bn1.running_var")) return "resnet";
  return "";
}

namespace {
// The short name ("densenet101", "resnet50") of the network a checkpoint holds, from its keys
// alone (the constructors then check every shape), as the models' name() spell it. Lets
// make_model refuse a mismatched --model before any weights are folded or uploaded to a GPU.
std::string checkpoint_short_name(bool densenet, const StateDict& sd) {
  auto count = [&](const std::string& prefix) {
    int64_t n = 0;
    while (sd.has(prefix + std::to_string(n) + ".conv1.weight")) ++n;
    return n;
  };
  if (densenet) {
    DenseNetConfig c;
    c.layers_per_block = count("block1.layer.");
    return "densenet" + std::to_string(c.depth() + 1);  // as DenseNet::name() spells it
  }
  std::vector<int64_t> stage_blocks;
  for (int stage = 1; stage <= 4; ++stage)
    stage_blocks.push_back(count("layer" + std::to_string(stage) + "."));
  return ResNet::depth_name(sd.has("layer1.0.conv3.weight"), stage_blocks);
}
}  // namespace

std::unique_ptr<Model> make_model(const std::string& arch, const StateDict& sd, Device device,
                                  const ModelOptions& options) {
  std::string family = arch;
  if (arch == "auto") {
    family = detect_architecture(sd);
    if (family.empty())
      throw_error(sd.source, ": cannot tell the architecture from the keys; pass --model densenet101");
  }
  const bool densenet = family.rfind("densenet", 0) == 0, resnet = family.rfind("resnet", 0) == 0;
  if (!densenet && !resnet)
    throw_error("unknown model '", arch, "'; known: densenet101 (DenseNet-BC L=100 k=12), resnet18/34/50/101/152, auto");
  check_model_options(densenet ? "densenet" : "resnet", device, options);
  // A named depth ("resnet50") must be what the checkpoint holds: a ResNet-18 file run as
  // --model resnet50 would otherwise evaluate silently under the wrong name.
  // (A checkpoint of the other family is left to the constructor, whose error says what it lacks.)
  if (arch != "auto" && arch != "densenet" && arch != "resnet" &&
      detect_architecture(sd) == (densenet ? "densenet" : "resnet")) {
    const std::string held = checkpoint_short_name(densenet, sd);
    if (held != arch)
      throw_error(sd.source, ": this checkpoint holds a ", held, ", not a ", arch, "; pass --model ",
                  held, " (or --model auto)");
  }
  std::unique_ptr<Model> model;
  if (device == Device::kCuda) {
    check_device_available(device);
#ifdef DICE_HAVE_CUDA
    if (densenet) model = std::make_unique<DenseNetCuda>(sd);
    else model = std::make_unique<ResNetCuda>(sd, options);
#endif
  }
  if (!model) {
    if (densenet) model = std::make_unique<DenseNet>(sd);
    else model = std::make_unique<ResNet>(sd);
  }
  return model;
}

}  // namespace dice
