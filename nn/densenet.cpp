// DenseNet-BC forward on the CPU ops (see densenet.h for the plan and its fusions).
#include "nn/densenet.h"

#include <string>

#include "core/error.h"
#include "kernels/conv2d.h"
#include "kernels/pool.h"

namespace dice {

BnAffine densenet_load_bn(const StateDict& sd, const std::string& prefix, int64_t channels) {
  std::vector<int64_t> shape{channels};
  const Tensor& g = sd.at(prefix + ".weight", shape);
  const Tensor& b = sd.at(prefix + ".bias", shape);
  const Tensor& m = sd.at(prefix + ".running_mean", shape);
  const Tensor& v = sd.at(prefix + ".running_var", shape);
  return bn_fold(g.ptr(), b.ptr(), m.ptr(), v.ptr(), channels, 1e-5);
}

std::string densenet_layer_key(int block, int64_t i) {
  return "block" + std::to_string(block + 1) + ".layer." + std::to_string(i);
}

DenseNet::DenseNet(const StateDict& sd) {
  if (!sd.has("conv1.weight") || !sd.has(densenet_layer_key(0, 0) + ".conv1.weight"))
    throw_error(sd.source, ": not a DenseNet-BC checkpoint (no 'conv1.weight' / 'block1.layer.0.conv1.weight');"
                " pass --model to name the architecture of this file");
  int64_t n = 0;
  while (sd.has(densenet_layer_key(0, n) + ".conv1.weight")) ++n;
  const Tensor& stem = sd.at("conv1.weight");
  if (stem.dim() != 4 || stem.size(1) != 3 || stem.size(2) != 3)
    throw_error(sd.source, ": conv1.weight has shape ", stem.shape_str(),
                ", expected (C, 3, 3, 3) for a CIFAR DenseNet-BC");
  config_.stem_channels = stem.size(0);
  config_.layers_per_block = n;
  config_.growth = sd.at(densenet_layer_key(0, 0) + ".conv2.weight").size(0);
  config_.num_classes = sd.at("fc.weight").size(0);
  const int64_t k = config_.growth, inter = 4 * k;
  stem_ = sd.at("conv1.weight", {config_.stem_channels, 3, 3, 3});

  int64_t c = config_.stem_channels;
  for (int b = 0; b < 3; ++b) {
    for (int64_t i = 0; i < n; ++i) {
      std::string key = densenet_layer_key(b, i);
      Bottleneck layer;
      layer.in_channels = c;
      layer.bn1 = densenet_load_bn(sd, key + ".bn1", c);
      layer.conv1 = sd.at(key + ".conv1.weight", {inter, c, 1, 1});
      layer.bn2 = densenet_load_bn(sd, key + ".bn2", inter);
      layer.conv2 = sd.at(key + ".conv2.weight", {k, inter, 3, 3});
      blocks_[b].push_back(std::move(layer));
      c += k;
    }
    if (sd.has(densenet_layer_key(b, n) + ".conv1.weight"))
      throw_error(sd.source, ": block", b + 1, " has more layers than block1 (", n,
                  "); this is not a DenseNet-BC with equal blocks");
    block_width_[b] = c;
    if (b < 2) {
      std::string key = "trans" + std::to_string(b + 1);
      Transition& t = trans_[b];
      t.in_channels = c;
      t.out_channels = c / 2;  // reduction 0.5: floor(c * 0.5)
      t.bn = densenet_load_bn(sd, key + ".bn1", c);
      t.conv = sd.at(key + ".conv1.weight", {t.out_channels, c, 1, 1});
      c = t.out_channels;
    }
  }
  head_bn_ = densenet_load_bn(sd, "bn1", c);
  feature_dim_ = c;
  fc_weight_ = sd.at("fc.weight", {config_.num_classes, c});
  fc_bias_ = sd.at("fc.bias", {config_.num_classes});
}

std::string DenseNet::name() const {
  return "densenet" + std::to_string(config_.depth() + 1) + " (DenseNet-BC L=" +
         std::to_string(config_.depth()) + " k=" + std::to_string(config_.growth) + ", " +
         std::to_string(config_.num_classes) + " classes)";
}

void DenseNet::features(const float* x, int64_t batch, float* features) {
  const int64_t k = config_.growth, inter = 4 * k;
  const int64_t sides[3] = {32, 16, 8};
  for (int b = 0; b < 3; ++b)
    buf_block_[b].resize(static_cast<size_t>(batch * block_width_[b] * sides[b] * sides[b]));
  buf_tmp_.resize(static_cast<size_t>(batch * inter * 32 * 32));
  buf_pool_.resize(static_cast<size_t>(batch * trans_[0].in_channels * 16 * 16));

  // Stem: 3x3 conv into the first channels of block 1's buffer.
  {
    Conv2dParams p;
    p.batch = batch, p.in_channels = 3, p.height = 32, p.width = 32;
    p.out_channels = config_.stem_channels, p.kernel = 3, p.pad = 1;
    p.out_batch_stride = block_width_[0] * 32 * 32;
    conv2d_cpu(p, x, stem_.ptr(), buf_block_[0].data());
  }
  for (int b = 0; b < 3; ++b) {
    const int64_t side = sides[b], hw = side * side, width = block_width_[b];
    float* block = buf_block_[b].data();
    for (const Bottleneck& layer : blocks_[b]) {
      Conv2dParams p1;
      p1.batch = batch, p1.in_channels = layer.in_channels, p1.height = side, p1.width = side;
      p1.out_channels = inter, p1.kernel = 1;
      p1.in_batch_stride = width * hw;
      ConvFusion f1;
      f1.in_scale = layer.bn1.scale.data(), f1.in_shift = layer.bn1.shift.data();
      f1.out_scale = layer.bn2.scale.data(), f1.out_shift = layer.bn2.shift.data();
      f1.out_relu = true;
      conv2d_cpu(p1, block, layer.conv1.ptr(), buf_tmp_.data(), f1);

      Conv2dParams p2;
      p2.batch = batch, p2.in_channels = inter, p2.height = side, p2.width = side;
      p2.out_channels = k, p2.kernel = 3, p2.pad = 1;
      p2.out_batch_stride = width * hw;
      conv2d_cpu(p2, buf_tmp_.data(), layer.conv2.ptr(), block + layer.in_channels * hw);
    }
    if (b < 2) {
      const Transition& t = trans_[b];
      Pool2dParams pp;
      pp.batch = batch, pp.channels = t.in_channels, pp.height = side, pp.width = side;
      pp.kernel = 2, pp.stride = 2;
      avg_pool2d_cpu(pp, block, buf_pool_.data(), t.bn.scale.data(), t.bn.shift.data());
      Conv2dParams pc;
      pc.batch = batch, pc.in_channels = t.in_channels, pc.height = side / 2, pc.width = side / 2;
      pc.out_channels = t.out_channels, pc.kernel = 1;
      pc.out_batch_stride = block_width_[b + 1] * (side / 2) * (side / 2);
      conv2d_cpu(pc, buf_pool_.data(), t.conv.ptr(), buf_block_[b + 1].data());
    }
  }
  global_avg_pool_cpu(batch, feature_dim_, 8 * 8, buf_block_[2].data(), features,
                      head_bn_.scale.data(), head_bn_.shift.data());
}

}  // namespace dice
