// The WideResNet plan builder (see wideresnet.h for the reference's block and the fusions).
#include "nn/wideresnet.h"

#include "core/error.h"

namespace dice {
namespace {

std::string layer_key(int block, int64_t i) {
  return "block" + std::to_string(block + 1) + ".layer." + std::to_string(i);
}

int64_t count_layers(const StateDict& sd) {
  int64_t n = 0;
  while (sd.has(layer_key(0, n) + ".conv1.weight")) ++n;
  return n;
}

}  // namespace

std::string wideresnet_short_name(const StateDict& sd) {
  const int64_t n = count_layers(sd);
  int64_t widen = 0;
  if (sd.has("conv1.weight") && n > 0) {
    const int64_t stem = sd.at("conv1.weight").size(0);
    widen = stem > 0 ? sd.at(layer_key(0, 0) + ".conv1.weight").size(0) / stem : 0;
  }
  return "wrn" + std::to_string(6 * n + 4) + "_" + std::to_string(widen);
}

Plan wideresnet_plan(const StateDict& sd) {
  if (!sd.has("conv1.weight") || !sd.has(layer_key(0, 0) + ".conv1.weight") ||
      !sd.has(layer_key(1, 0) + ".convShortcut.weight"))
    throw_error(sd.source, ": not a WideResNet checkpoint (no 'block1.layer.0.conv1.weight' / "
                "'block2.layer.0.convShortcut.weight'); pass --model to name the architecture of this file");
  const int64_t n = count_layers(sd);
  const Tensor& stem_w = sd.at("conv1.weight");
  if (stem_w.dim() != 4 || stem_w.size(1) != 3 || stem_w.size(2) != 3 || stem_w.size(3) != 3)
    throw_error(sd.source, ": conv1.weight has shape ", stem_w.shape_str(),
                ", expected (16, 3, 3, 3) for a CIFAR WideResNet");
  const int64_t stem_c = stem_w.size(0);
  const int64_t widen = sd.at(layer_key(0, 0) + ".conv1.weight").size(0) / stem_c;
  const int64_t classes = sd.at("fc.weight").size(0), depth = 6 * n + 4;

  Plan plan;
  plan.family = "wideresnet";
  plan.name = wideresnet_short_name(sd) + " (WideResNet-" + std::to_string(depth) + "-" +
              std::to_string(widen) + ", " + std::to_string(classes) + " classes)";
  plan.facts = {{"depth", depth}, {"widen", widen}, {"layers_per_block", n}};
  const int x = plan.add_input(3, 32);
  Step stem = plain_conv(sd, "conv1", 3, 1, 1);
  stem.name = "stem";
  stem.in = plan.whole(x);
  View cur = plan.add_new(std::move(stem), "stem");

  for (int b = 0; b < 3; ++b) {
    if (sd.has(layer_key(b, n) + ".conv1.weight"))
      throw_error(sd.source, ": block", b + 1, " has more layers than block1 (", n,
                  "); this is not a WideResNet with equal blocks");
    for (int64_t i = 0; i < n; ++i) {
      const std::string key = layer_key(b, i);
      const int64_t c = cur.channels, stride = (b > 0 && i == 0) ? 2 : 1;
      const BnAffine bn1 = load_bn(sd, key + ".bn1", c);
      Step conv1 = plain_conv(sd, key + ".conv1", c, stride, 1);
      const int64_t out = conv1.out.channels;
      const BnAffine bn2 = load_bn(sd, key + ".bn2", out);
      const bool equal = c == out;
      if (sd.has(key + ".convShortcut.weight") == equal || (equal && stride != 1))
        throw_error(sd.source, ": ", key, (equal ? " keeps its width but has" : " changes width but has no"),
                    " convShortcut weights; not the reference WideResNet's block");
      conv1.in_scale = bn1.scale, conv1.in_shift = bn1.shift;
      conv1.out_scale = bn2.scale, conv1.out_shift = bn2.shift;
      conv1.relu = true;
      conv1.in = cur;
      const View mid = plan.add_new(std::move(conv1), key + ".conv1");
      View residual = cur;
      if (!equal) {
        Step sc = plain_conv(sd, key + ".convShortcut", c, stride, 0);
        sc.name = key + ".shortcut";
        sc.in_scale = bn1.scale, sc.in_shift = bn1.shift;
        sc.in = cur;
        residual = plan.add_new(std::move(sc), key + ".shortcut");
      }
      Step conv2 = plain_conv(sd, key + ".conv2", out, 1, 1);
      if (conv2.out.channels != out)
        throw_error(sd.source, ": ", key, ".conv2.weight has ", conv2.out.channels,
                    " output channels, expected ", out);
      conv2.in = mid;
      conv2.residual = residual;
      cur = plan.add_new(std::move(conv2), key);
    }
  }
  Step head;
  head.op = StepOp::kGlobalAvgPool;
  head.name = "head";
  const BnAffine bn = load_bn(sd, "bn1", cur.channels);
  head.in_scale = bn.scale, head.in_shift = bn.shift;
  head.in = cur;
  plan.fc_weight = sd.at("fc.weight", {classes, cur.channels});
  plan.fc_bias = sd.at("fc.bias", {classes});
  plan.finish(plan.add_new(std::move(head), "features").tensor);
  return plan;
}

}  // namespace dice
