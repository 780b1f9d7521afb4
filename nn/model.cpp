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

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::kCpu;
  if (name == "cuda") return Device::kCuda;
  throw_error("unknown device '", name, "'; known: cpu, cuda");
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
  // A named depth ("resnet50") must be what the checkpoint holds: a ResNet-18 file run as
  // --model resnet50 would otherwise evaluate silently under the wrong name.
  const std::string built = model->name().substr(0, model->name().find(' '));
  if (arch != "auto" && arch != "densenet" && arch != "resnet" && built != arch)
    throw_error(sd.source, ": this checkpoint holds a ", model->name(), ", not a ", arch,
                "; pass --model ", built, " (or --model auto)");
  return model;
}

}  // namespace dice
