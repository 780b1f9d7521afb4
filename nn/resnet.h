// ResNet in torchvision's layout (He et al., with the stride on the 3x3 conv: "v1.5"): the
// paper's ImageNet network is ResNet-50. Depth, block type and widths are read from the state
// dict (basic blocks for 18/34, bottlenecks for 50/101/152; reduced widths work too).
//
// Execution plan (CPU): every BatchNorm is folded into the convolution before it at load time
// (w' = w * gamma/sqrt(var+eps), b' = beta - mean * gamma/sqrt(var+eps), in double), so each conv
// carries a bias; ReLU, and for the last conv of a block the residual add and ReLU, run in the
// conv's epilogue. Activations are NCHW in buffers sized once per batch size.
#pragma once
#include <string>
#include <vector>

#include "nn/model.h"

namespace dice {

class ResNet : public Model {
 public:
  explicit ResNet(const StateDict& sd);

  std::string name() const override;
  int64_t feature_dim() const override { return fc_weight_.size(1); }
  int64_t num_classes() const override { return fc_weight_.size(0); }
  int64_t input_size() const override { return 224; }
  void features(const float* x, int64_t batch, float* features) override;
  bool bottleneck() const { return bottleneck_; }
  // "resnet<layers>" for a network of these blocks per stage (name() without the classes).
  static std::string depth_name(bool bottleneck, const std::vector<int64_t>& stage_blocks);
  const std::vector<int64_t>& blocks_per_stage() const { return stage_blocks_; }

  struct ConvBn {  // a convolution with its BatchNorm folded in
    int64_t in = 0, out = 0, kernel = 1, stride = 1, pad = 0;
    std::vector<float> weight, bias;
  };

 private:
  struct Block {
    std::vector<ConvBn> convs;  // 2 (basic) or 3 (bottleneck)
    bool has_downsample = false;
    ConvBn downsample;
  };
  bool bottleneck_ = false;
  std::vector<int64_t> stage_blocks_;
  ConvBn stem_;
  std::vector<Block> blocks_;
  std::vector<float> buf_[5];
};

// Folds BatchNorm `bn` into convolution `conv` (weights `conv`.weight, no bias) with the formula
// above; checks the conv weight is (out, in_channels, k, k) and pads by k/2. Shared by the CPU and
// GPU models, so that both run the same folded parameters.
ResNet::ConvBn fold_conv_bn(const StateDict& sd, const std::string& conv, const std::string& bn,
                            int64_t stride, int64_t in_channels);

}  // namespace dice
