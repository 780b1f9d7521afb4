// The network interface the OOD code programs against: images in, penultimate features out, plus
// the fc layer's weight and bias (DICE sparsifies that layer, so the head lives in ood/, not here).
// Models are built from a StateDict; the architecture is inferred from its keys and shapes.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "kernels/tensor.h"
#include "weights/state_dict.h"

namespace dice {

class Model {
 public:
  virtual ~Model() = default;
  virtual std::string name() const = 0;           // e.g. "densenet101 (DenseNet-BC L=100 k=12)"
  virtual int64_t feature_dim() const = 0;        // D of the penultimate feature
  virtual int64_t num_classes() const = 0;        // C of the fc layer
  virtual int64_t input_size() const = 0;         // expected square input side (32, 224)
  // x: [batch][3][input_size][input_size] normalized floats -> features [batch][feature_dim].
  virtual void features(const float* x, int64_t batch, float* features) = 0;
  const Tensor& fc_weight() const { return fc_weight_; }  // [classes][features]
  const Tensor& fc_bias() const { return fc_bias_; }      // [classes]

 protected:
  Tensor fc_weight_, fc_bias_;
};

// arch: "auto" (inferred from the keys), or a name such as "densenet101"/"densenet".
// Throws dice::Error naming the weight file when keys or shapes do not fit.
std::unique_ptr<Model> make_model(const std::string& arch, const StateDict& sd);

// "densenet" or "resnet" from the keys alone; "" when neither fits.
std::string detect_architecture(const StateDict& sd);

}  // namespace dice
