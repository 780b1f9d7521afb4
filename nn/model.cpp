// Architecture detection, device names and the model factory (see model.h).
#include "nn/model.h"

#include "core/error.h"
#include "kernels/cuda_check.h"
#include "nn/densenet.h"
#include "nn/resnet.h"
#ifdef DICE_HAVE_CUDA
#include "nn/densenet_cuda.h"
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

std::unique_ptr<Model> make_model(const std::string& arch, const StateDict& sd, Device device) {
  std::string family = arch;
  if (arch == "auto") {
    family = detect_architecture(sd);
    if (family.empty())
      throw_error(sd.source, ": cannot tell the architecture from the keys; pass --model densenet101");
  }
  const bool densenet = family.rfind("densenet", 0) == 0, resnet = family.rfind("resnet", 0) == 0;
  if (!densenet && !resnet)
    throw_error("unknown model '", arch, "'; known: densenet101 (DenseNet-BC L=100 k=12), resnet18/34/50/101/152, auto");
  if (device == Device::kCuda) {
    check_device_available(device);
    if (!densenet)
      throw_error("--device cuda: only DenseNet has a CUDA implementation so far; use --device cpu for ", family);
#ifdef DICE_HAVE_CUDA
    return std::make_unique<DenseNetCuda>(sd);
#endif
  }
  if (densenet) return std::make_unique<DenseNet>(sd);
  return std::make_unique<ResNet>(sd);
}

}  // namespace dice
