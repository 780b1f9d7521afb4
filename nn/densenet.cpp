// The DenseNet-BC plan builder (see densenet.h for the plan and its fusions).
#include "nn/densenet.h"

#include <string>

#include "core/error.h"

namespace dice {
namespace {

std::string layer_key(int block, int64_t i) {
  return "block" + std::to_string(block + 1) + ".layer." + std::to_string(i);
}

void set_input_bn(Step& s, const BnAffine& bn) { s.in_scale = bn.scale, s.in_shift = bn.shift; }

}  // namespace

Plan densenet_plan(const StateDict& sd) {
  if (!sd.has("conv1.weight") || !sd.has(layer_key(0, 0) + ".conv1.weight"))
    throw_error(sd.source, ": not a DenseNet-BC checkpoint (no 'conv1.weight' / 'block1.layer.0.conv1.weight');"
                " pass --model to name the architecture of this file");
  int64_t n = 0;
  while (sd.has(layer_key(0, n) + ".conv1.weight")) ++n;
  const Tensor& stem_w = sd.at("conv1.weight");
  if (stem_w.dim() != 4 || stem_w.size(1) != 3 || stem_w.size(2) != 3)
    throw_error(sd.source, ": conv1.weight has shape ", stem_w.shape_str(),
                ", expected (C, 3, 3, 3) for a CIFAR DenseNet-BC");
  const int64_t stem_c = stem_w.size(0);
  const int64_t k = sd.at(layer_key(0, 0) + ".conv2.weight").size(0), inter = 4 * k;
  const int64_t classes = sd.at("fc.weight").size(0), depth = 6 * n + 4;
  sd.at("conv1.weight", {stem_c, 3, 3, 3});
  for (int b = 0; b < 3; ++b)
    if (sd.has(layer_key(b, n) + ".conv1.weight"))
      throw_error(sd.source, ": block", b + 1, " has more layers than block1 (", n,
                  "); this is not a DenseNet-BC with equal blocks");

  Plan plan;
  plan.family = "densenet";
  plan.name = "densenet" + std::to_string(depth + 1) + " (DenseNet-BC L=" + std::to_string(depth) +
              " k=" + std::to_string(k) + ", " + std::to_string(classes) + " classes)";
  plan.facts = {{"depth", depth}, {"growth", k}, {"layers_per_block", n}, {"stem_channels", stem_c}};
  const int x = plan.add_input(3, 32);

  // Block widths first: each block is one tensor holding every layer's channels.
  int64_t width[3], c = stem_c;
  for (int b = 0; b < 3; ++b) {
    width[b] = c + n * k;
    c = b < 2 ? width[b] / 2 : width[b];  // reduction 0.5: floor(c * 0.5)
  }
  const int64_t sides[3] = {32, 16, 8};
  int block[3];
  for (int b = 0; b < 3; ++b)
    block[b] = plan.add_tensor("block" + std::to_string(b + 1), width[b], sides[b], sides[b]);

  Step stem = plain_conv(sd, "conv1", 3, 1, 1);
  stem.name = "stem";
  stem.in = plan.whole(x);
  stem.out = View{block[0], 0, stem_c};
  plan.add(std::move(stem));

  c = stem_c;
  for (int b = 0; b < 3; ++b) {
    for (int64_t i = 0; i < n; ++i) {
      const std::string key = layer_key(b, i);
      const BnAffine bn1 = load_bn(sd, key + ".bn1", c);
      sd.at(key + ".conv1.weight", {inter, c, 1, 1});
      const BnAffine bn2 = load_bn(sd, key + ".bn2", inter);
      sd.at(key + ".conv2.weight", {k, inter, 3, 3});
      Step c1 = plain_conv(sd, key + ".conv1", c, 1, 0);
      c1.name = "bottleneck_1x1";
      set_input_bn(c1, bn1);
      c1.out_scale = bn2.scale, c1.out_shift = bn2.shift;
      c1.relu = true;
      c1.in = View{block[b], 0, c};
      const View mid = plan.add_new(std::move(c1), key + ".mid");
      Step c2 = plain_conv(sd, key + ".conv2", inter, 1, 1);
      c2.name = "bottleneck_3x3";
      c2.in = mid;
      c2.out = View{block[b], c, k};
      plan.add(std::move(c2));
      c += k;
    }
    if (b == 2) break;
    const std::string key = "trans" + std::to_string(b + 1);
    Step pool;
    pool.op = StepOp::kAvgPool;
    pool.name = "transition_pool";
    pool.kernel = 2, pool.stride = 2;
    set_input_bn(pool, load_bn(sd, key + ".bn1", c));
    pool.in = plan.whole(block[b]);
    const View pooled = plan.add_new(std::move(pool), key + ".pool");
    sd.at(key + ".conv1.weight", {c / 2, c, 1, 1});
    Step conv = plain_conv(sd, key + ".conv1", c, 1, 0);
    conv.name = "transition_conv";
    conv.in = pooled;
    conv.out = View{block[b + 1], 0, c / 2};
    plan.add(std::move(conv));
    c /= 2;
  }
  Step head;
  head.op = StepOp::kGlobalAvgPool;
  head.name = "head";
  set_input_bn(head, load_bn(sd, "bn1", c));
  head.in = plan.whole(block[2]);
  const View features = plan.add_new(std::move(head), "features");
  plan.fc_weight = sd.at("fc.weight", {classes, c});
  plan.fc_bias = sd.at("fc.bias", {classes});
  plan.finish(features.tensor);
  return plan;
}

}  // namespace dice
