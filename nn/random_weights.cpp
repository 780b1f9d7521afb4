// Random DenseNet-BC, ResNet and WideResNet state dicts (see random_weights.h). He-normal
// convolutions keep activations in a realistic range through 100 layers.
#include "nn/random_weights.h"

#include <cmath>
#include <random>
#include <string>

#include "core/error.h"

namespace dice {
namespace {

struct Filler {
  std::mt19937_64 rng;
  Tensor normal(std::vector<int64_t> shape, float stddev, float mean = 0) {
    Tensor t(std::move(shape));
    std::normal_distribution<float> d(mean, stddev);
    for (float& v : t.data) v = d(rng);
    return t;
  }
  Tensor uniform(std::vector<int64_t> shape, float lo, float hi) {
    Tensor t(std::move(shape));
    std::uniform_real_distribution<float> d(lo, hi);
    for (float& v : t.data) v = d(rng);
    return t;
  }
};

// batches_tracked adds BatchNorm's 0-dim num_batches_tracked (0, no draw: the other tensors are
// the same either way). The layers never read it; the DenseNet and ResNet builders leave it out.
void add_bn(StateDict& sd, Filler& f, const std::string& p, int64_t c,
            bool batches_tracked = false) {
  sd.tensors[p + ".weight"] = f.uniform({c}, 0.75f, 1.25f);
  sd.tensors[p + ".bias"] = f.normal({c}, 0.1f);
  sd.tensors[p + ".running_mean"] = f.normal({c}, 0.2f);
  sd.tensors[p + ".running_var"] = f.uniform({c}, 0.5f, 1.0f);
  if (batches_tracked) sd.tensors[p + ".num_batches_tracked"] = Tensor(std::vector<int64_t>{});
}

void add_conv(StateDict& sd, Filler& f, const std::string& key, int64_t out, int64_t in, int64_t k) {
  sd.tensors[key] = f.normal({out, in, k, k}, std::sqrt(2.0f / static_cast<float>(in * k * k)));
}

// The unit DenseNet3's bottleneck and WideResNet's BasicBlock share, names included
// (block<b>.layer.<i>): bn1 over `in`, conv1 in -> mid (k1 x k1), bn2 over mid, conv2 mid -> out
// (3x3). Only the shapes differ.
void add_bn_conv_pair(StateDict& sd, Filler& f, const std::string& p, int64_t in, int64_t mid,
                      int64_t k1, int64_t out, bool batches_tracked) {
  add_bn(sd, f, p + ".bn1", in, batches_tracked);
  add_conv(sd, f, p + ".conv1.weight", mid, in, k1);
  add_bn(sd, f, p + ".bn2", mid, batches_tracked);
  add_conv(sd, f, p + ".conv2.weight", out, mid, 3);
}

std::string block_layer(int b, int64_t i) {
  return "block" + std::to_string(b) + ".layer." + std::to_string(i);
}

void add_fc(StateDict& sd, Filler& f, int64_t classes, int64_t in, float stddev) {
  sd.tensors["fc.weight"] = f.normal({classes, in}, stddev);
  sd.tensors["fc.bias"] = f.normal({classes}, stddev);
}

}  // namespace

StateDict random_densenet_state_dict(int64_t depth, int64_t growth, int64_t classes, uint64_t seed) {
  StateDict sd;
  sd.source = "random DenseNet-BC L=" + std::to_string(depth);
  Filler f{std::mt19937_64(seed)};
  const int64_t n = (depth - 4) / 6;
  int64_t c = 2 * growth;
  add_conv(sd, f, "conv1.weight", c, 3, 3);
  for (int b = 1; b <= 3; ++b) {
    for (int64_t i = 0; i < n; ++i) {
      add_bn_conv_pair(sd, f, block_layer(b, i), c, 4 * growth, 1, growth, false);
      c += growth;
    }
    if (b < 3) {
      std::string p = "trans" + std::to_string(b);
      add_bn(sd, f, p + ".bn1", c);
      add_conv(sd, f, p + ".conv1.weight", c / 2, c, 1);
      c /= 2;
    }
  }
  add_bn(sd, f, "bn1", c);
  add_fc(sd, f, classes, c, 0.1f);
  return sd;
}

}  // namespace dice

namespace dice {

StateDict random_resnet_state_dict(const std::vector<int64_t>& blocks, int64_t width,
                                   int64_t classes, uint64_t seed) {
  StateDict sd;
  sd.source = "random ResNet (bottleneck)";
  Filler f{std::mt19937_64(seed)};
  add_conv(sd, f, "conv1.weight", width, 3, 7);
  add_bn(sd, f, "bn1", width);
  int64_t c = width;
  for (size_t stage = 0; stage < blocks.size(); ++stage) {
    const int64_t planes = width << stage, out = planes * 4;
    for (int64_t i = 0; i < blocks[stage]; ++i) {
      std::string p = "layer" + std::to_string(stage + 1) + "." + std::to_string(i);
      add_conv(sd, f, p + ".conv1.weight", planes, c, 1);
      add_bn(sd, f, p + ".bn1", planes);
      add_conv(sd, f, p + ".conv2.weight", planes, planes, 3);
      add_bn(sd, f, p + ".bn2", planes);
      add_conv(sd, f, p + ".conv3.weight", out, planes, 1);
      add_bn(sd, f, p + ".bn3", out);
      if (i == 0) {
        add_conv(sd, f, p + ".downsample.0.weight", out, c, 1);
        add_bn(sd, f, p + ".downsample.1", out);
      }
      c = out;
    }
  }
  add_fc(sd, f, classes, c, 0.01f);
  return sd;
}

StateDict random_resnet50_trained_scale(uint64_t seed) {
  StateDict sd = random_resnet_state_dict({3, 4, 6, 3}, 64, 1000, seed);
  sd.source = "random ResNet-50";
  for (auto& [key, t] : sd.tensors)
    if (key.size() > 11 && key.compare(key.size() - 11, 11, ".bn3.weight") == 0)
      for (float& v : t.data) v *= 0.2f;
  return sd;
}

}  // namespace dice

namespace dice {

StateDict random_wideresnet_state_dict(int64_t depth, int64_t widen, int64_t classes,
                                       uint64_t seed) {
  if (depth < 10 || (depth - 4) % 6 != 0 || widen < 1 || classes < 1)
    throw_error("random_wideresnet_state_dict: WRN-", depth, "-", widen, " with ", classes,
                " classes does not exist; depth must be 6n+4 (n >= 1), widen and classes >= 1");
  StateDict sd;
  sd.source = "random WideResNet-" + std::to_string(depth) + "-" + std::to_string(widen);
  Filler f{std::mt19937_64(seed)};
  const int64_t n = (depth - 4) / 6;
  add_conv(sd, f, "conv1.weight", 16, 3, 3);
  int64_t c = 16;
  for (int b = 1; b <= 3; ++b) {
    const int64_t out = (16 << (b - 1)) * widen;
    for (int64_t i = 0; i < n; ++i) {
      // Pre-activation block; a 1x1 convShortcut only where the width changes (wrn.py's
      // equalInOut), which is the first block of a stage or none at all for widen 1, stage 1.
      add_bn_conv_pair(sd, f, block_layer(b, i), c, out, 3, out, true);
      if (c != out) add_conv(sd, f, block_layer(b, i) + ".convShortcut.weight", out, c, 1);
      c = out;
    }
  }
  add_bn(sd, f, "bn1", c, true);
  add_fc(sd, f, classes, c, 0.1f);
  return sd;
}

}  // namespace dice
