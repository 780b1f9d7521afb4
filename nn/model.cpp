// Architecture detection and the model factory (see model.h).
#include "nn/model.h"

#include "core/error.h"
#include "nn/densenet.h"
#include "nn/resnet.h"

namespace dice {

std::string detect_architecture(const StateDict& sd) {
  if (sd.has("block1.layer.0.conv1.weight") && sd.has("trans1.conv1.weight")) return "densenet";
  if (sd.has("layer1.0.conv1.weight") && sd.has("bn1.running_var")) return "resnet";
  return "";
}

std::unique_ptr<Model> make_model(const std::string& arch, const StateDict& sd) {
  std::string family = arch;
  if (arch == "auto") {
    family = detect_architecture(sd);
    if (family.empty())
      throw_error(sd.source, ": cannot tell the architecture from the keys; pass --model densenet101");
  }
  if (family.rfind("densenet", 0) == 0) return std::make_unique<DenseNet>(sd);
  if (family.rfind("resnet", 0) == 0) return std::make_unique<ResNet>(sd);
  throw_error("unknown model '", arch, "'; known: densenet101 (DenseNet-BC L=100 k=12), resnet18/34/50/101/152, auto");
}

}  // namespace dice
