// DenseNet-BC (Huang et al.) as in the DICE reference's DenseNet3(depth, classes, growth,
// reduction=0.5, bottleneck=True): the paper's "DenseNet-101" is depth 100, growth 12.
//
// Execution plan (CPU): activations are NCHW; each dense block owns one preallocated buffer of
// its final width, and every bottleneck layer writes its `growth` channels into its slice, so the
// torch.cat of the reference costs nothing. Fusions, all exact up to float rounding:
//   bottleneck: conv1x1 with bn1+ReLU applied while loading its input and bn2+ReLU applied in its
//               epilogue, then conv3x3 reading that activated tensor (zero padding after the
//               activation, as in the reference) and writing into the block slice;
//   transition: avgpool2x2(conv1x1(relu(bn(x)))) == conv1x1(avgpool2x2(relu(bn(x)))) since the
//               conv is linear without bias: pooling first does a quarter of the arithmetic;
//   head:       relu(bn(x)) fused into the global average pool.
#pragma once
#include <string>
#include <vector>

#include "kernels/batchnorm.h"
#include "nn/model.h"

namespace dice {

struct DenseNetConfig {
  int64_t growth = 12, layers_per_block = 16, num_classes = 10, stem_channels = 24;
  int64_t depth() const { return layers_per_block * 6 + 4; }
};

class DenseNet : public Model {
 public:
  // Infers the configuration from the keys (block{1,2,3}.layer.{i}) and shapes.
  explicit DenseNet(const StateDict& sd);

  std::string name() const override;
  int64_t feature_dim() const override { return feature_dim_; }
  int64_t num_classes() const override { return config_.num_classes; }
  int64_t input_size() const override { return 32; }
  void features(const float* x, int64_t batch, float* features) override;
  const DenseNetConfig& config() const { return config_; }

 private:
  struct Bottleneck {
    int64_t in_channels;
    BnAffine bn1, bn2;
    Tensor conv1, conv2;  // [4k][c][1][1], [k][4k][3][3]
  };
  struct Transition {
    int64_t in_channels, out_channels;
    BnAffine bn;
    Tensor conv;  // [out][in][1][1]
  };
  DenseNetConfig config_;
  Tensor stem_;  // conv1: [stem][3][3][3]
  std::vector<Bottleneck> blocks_[3];
  Transition trans_[2];
  BnAffine head_bn_;
  int64_t block_width_[3] = {0, 0, 0};
  int64_t feature_dim_ = 0;
  // Scratch reused across calls of the same batch size.
  std::vector<float> buf_block_[3], buf_tmp_, buf_pool_;
};

// Checkpoint access shared by the CPU and GPU models: the key prefix of layer i of dense block
// `block` (0-based; "block1.layer.0"), and the BatchNorm at `prefix` folded to a per-channel affine
// (eps 1e-5, torch's default), its four tensors checked to have `channels` entries.
std::string densenet_layer_key(int block, int64_t i);
BnAffine densenet_load_bn(const StateDict& sd, const std::string& prefix, int64_t channels);

}  // namespace dice
