// ResNet forward on the CPU ops (see resnet.h for the plan and the BatchNorm folding).
#include "nn/resnet.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "kernels/conv2d.h"
#include "kernels/pool.h"

namespace dice {

ResNet::ConvBn fold_conv_bn(const StateDict& sd, const std::string& conv, const std::string& bn,
                            int64_t stride, int64_t in_channels) {
  const Tensor& w = sd.at(conv + ".weight");
  if (w.dim() != 4 || w.size(2) != w.size(3) || w.size(1) != in_channels)
    throw_error(sd.source, ": ", conv, ".weight has shape ", w.shape_str(), ", expected (out, ",
                in_channels, ", k, k)");
  ResNet::ConvBn c;
  c.out = w.size(0), c.in = in_channels, c.kernel = w.size(2), c.stride = stride;
  c.pad = c.kernel / 2;
  std::vector<int64_t> shape{c.out};
  const Tensor& g = sd.at(bn + ".weight", shape);
  const Tensor& b = sd.at(bn + ".bias", shape);
  const Tensor& m = sd.at(bn + ".running_mean", shape);
  const Tensor& v = sd.at(bn + ".running_var", shape);
  const int64_t per = c.in * c.kernel * c.kernel;
  c.weight.resize(static_cast<size_t>(c.out * per));
  c.bias.resize(static_cast<size_t>(c.out));
  for (int64_t o = 0; o < c.out; ++o) {
    double s = g.data[o] / std::sqrt(static_cast<double>(v.data[o]) + 1e-5);
    for (int64_t j = 0; j < per; ++j)
      c.weight[o * per + j] = static_cast<float>(w.data[o * per + j] * s);
    c.bias[o] = static_cast<float>(b.data[o] - m.data[o] * s);
  }
  return c;
}

namespace {

// Runs one folded conv: out = [relu](conv(in) + bias [+ residual]).
void run(const ResNet::ConvBn& c, int64_t batch, int64_t h, int64_t w, const float* in, float* out,
         bool relu, const float* residual = nullptr) {
  Conv2dParams p;
  p.batch = batch, p.in_channels = c.in, p.height = h, p.width = w;
  p.out_channels = c.out, p.kernel = c.kernel, p.stride = c.stride, p.pad = c.pad;
  ConvFusion f;
  f.bias = c.bias.data();
  f.residual = residual;
  f.out_relu = relu;
  conv2d_cpu(p, in, c.weight.data(), out, f);
}

}  // namespace

ResNet::ResNet(const StateDict& sd) {
  if (!sd.has("conv1.weight") || !sd.has("layer1.0.conv1.weight") || !sd.has("fc.weight"))
    throw_error(sd.source, ": not a torchvision ResNet checkpoint (no 'layer1.0.conv1.weight');"
                " pass --model to name the architecture of this file");
  bottleneck_ = sd.has("layer1.0.conv3.weight");
  stem_ = fold_conv_bn(sd, "conv1", "bn1", 2, 3);
  int64_t c = stem_.out;
  for (int stage = 1; stage <= 4; ++stage) {
    int64_t n = 0;
    for (;; ++n) {
      std::string p = "layer" + std::to_string(stage) + "." + std::to_string(n);
      if (!sd.has(p + ".conv1.weight")) break;
      Block blk;
      int64_t stride = (stage > 1 && n == 0) ? 2 : 1;
      if (bottleneck_) {
        blk.convs.push_back(fold_conv_bn(sd, p + ".conv1", p + ".bn1", 1, c));
        blk.convs.push_back(fold_conv_bn(sd, p + ".conv2", p + ".bn2", stride, blk.convs[0].out));
        blk.convs.push_back(fold_conv_bn(sd, p + ".conv3", p + ".bn3", 1, blk.convs[1].out));
      } else {
        blk.convs.push_back(fold_conv_bn(sd, p + ".conv1", p + ".bn1", stride, c));
        blk.convs.push_back(fold_conv_bn(sd, p + ".conv2", p + ".bn2", 1, blk.convs[0].out));
      }
      int64_t out = blk.convs.back().out;
      blk.has_downsample = sd.has(p + ".downsample.0.weight");
      if (blk.has_downsample) {
        blk.downsample = fold_conv_bn(sd, p + ".downsample.0", p + ".downsample.1", stride, c);
        blk.downsample.pad = 0;
      } else if (stride != 1 || out != c) {
        throw_error(sd.source, ": ", p, " changes shape but has no downsample weights");
      }
      blocks_.push_back(std::move(blk));
      c = out;
    }
    if (n == 0) throw_error(sd.source, ": no layer", stage, ".0 weights; not a 4-stage ResNet");
    stage_blocks_.push_back(n);
  }
  fc_weight_ = sd.at("fc.weight");
  if (fc_weight_.dim() != 2 || fc_weight_.size(1) != c)
    throw_error(sd.source, ": fc.weight has shape ", fc_weight_.shape_str(), ", expected (C, ", c, ")");
  fc_bias_ = sd.at("fc.bias", {fc_weight_.size(0)});
}

std::string ResNet::depth_name(bool bottleneck, const std::vector<int64_t>& stage_blocks) {
  int64_t layers = 2;  // the stem and the fc
  for (int64_t n : stage_blocks) layers += n * (bottleneck ? 3 : 2);
  return "resnet" + std::to_string(layers);
}

std::string ResNet::name() const {
  return depth_name(bottleneck_, stage_blocks_) + " (" + std::to_string(num_classes()) + " classes)";
}

void ResNet::features(const float* x, int64_t batch, float* features) {
  // Every buffer holds the largest activation of the network at its real size: walk the shapes
  // (each conv's output side from its stride) rather than assume 56x56, which sized layer4's
  // buffers 64x too large and made the whole forward take 8x the memory it needs.
  auto side_after = [](int64_t side, const ConvBn& c) { return (side + 2 * c.pad - c.kernel) / c.stride + 1; };
  int64_t h = side_after(224, stem_), w = h;
  int64_t per_image = stem_.out * h * w;
  int64_t side = (h + 2 - 3) / 2 + 1;  // after the 3x3/2 max pool
  for (const Block& b : blocks_)
    for (const ConvBn& c : b.convs) {
      side = side_after(side, c);
      per_image = std::max(per_image, c.out * side * side);
    }
  for (auto& b : buf_) b.resize(static_cast<size_t>(batch * per_image));

  run(stem_, batch, 224, 224, x, buf_[0].data(), true);
  Pool2dParams mp;
  mp.batch = batch, mp.channels = stem_.out, mp.height = h, mp.width = w;
  mp.kernel = 3, mp.stride = 2, mp.pad = 1;
  max_pool2d_cpu(mp, buf_[0].data(), buf_[1].data());
  h = mp.out_height(), w = mp.out_width();
  float* cur = buf_[1].data();
  float* spare = buf_[0].data();
  for (const Block& b : blocks_) {
    const float* identity = cur;
    const float* in = cur;
    int64_t ch = h, cw = w;
    float* tmp[2] = {buf_[2].data(), buf_[3].data()};
    for (size_t i = 0; i + 1 < b.convs.size(); ++i) {
      const ConvBn& c = b.convs[i];
      run(c, batch, ch, cw, in, tmp[i % 2], true);
      ch = (ch + 2 * c.pad - c.kernel) / c.stride + 1;
      cw = (cw + 2 * c.pad - c.kernel) / c.stride + 1;
      in = tmp[i % 2];
    }
    if (b.has_downsample) {
      run(b.downsample, batch, h, w, cur, buf_[4].data(), false);
      identity = buf_[4].data();
    }
    run(b.convs.back(), batch, ch, cw, in, spare, true, identity);
    std::swap(cur, spare);
    h = ch, w = cw;
  }
  global_avg_pool_cpu(batch, feature_dim(), h * w, cur, features);
}

}  // namespace dice
