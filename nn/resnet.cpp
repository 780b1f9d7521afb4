// The ResNet plan builder (see resnet.h for the plan and the BatchNorm folding).
#include "nn/resnet.h"

#include "core/error.h"

namespace dice {

std::string resnet_depth_name(bool bottleneck, const std::vector<int64_t>& stage_blocks) {
  int64_t layers = 2;  // the stem and the fc
  for (int64_t n : stage_blocks) layers += n * (bottleneck ? 3 : 2);
  return "resnet" + std::to_string(layers);
}

Plan resnet_plan(const StateDict& sd) {
  if (!sd.has("conv1.weight") || !sd.has("layer1.0.conv1.weight") || !sd.has("fc.weight"))
    throw_error(sd.source, ": not a torchvision ResNet checkpoint (no 'layer1.0.conv1.weight');"
                " pass --model to name the architecture of this file");
  const bool bottleneck = sd.has("layer1.0.conv3.weight");
  Plan plan;
  plan.family = "resnet";
  const int x = plan.add_input(3, 224);
  // A conv with its BatchNorm folded, padded by k/2 (the stem 3, a 3x3 1, a 1x1 0).
  auto conv = [&](const std::string& c, const std::string& bn, int64_t in, int64_t stride) {
    Step s = folded_conv(sd, c, bn, in, stride, 0);
    s.pad = s.kernel / 2;
    return s;
  };

  Step stem = conv("conv1", "bn1", 3, 2);
  stem.name = "stem";
  stem.relu = true;
  stem.in = plan.whole(x);
  Step pool;
  pool.op = StepOp::kMaxPool;
  pool.name = "maxpool";
  pool.kernel = 3, pool.stride = 2, pool.pad = 1;
  pool.in = plan.add_new(std::move(stem), "stem");
  View cur = plan.add_new(std::move(pool), "maxpool");

  std::vector<int64_t> stage_blocks;
  for (int stage = 1; stage <= 4; ++stage) {
    int64_t n = 0;
    for (;; ++n) {
      const std::string p = "layer" + std::to_string(stage) + "." + std::to_string(n);
      if (!sd.has(p + ".conv1.weight")) break;
      const int64_t stride = (stage > 1 && n == 0) ? 2 : 1, c = cur.channels;
      std::vector<Step> convs;
      if (bottleneck) {
        convs.push_back(conv(p + ".conv1", p + ".bn1", c, 1));
        convs.push_back(conv(p + ".conv2", p + ".bn2", convs[0].out.channels, stride));
        convs.push_back(conv(p + ".conv3", p + ".bn3", convs[1].out.channels, 1));
      } else {
        convs.push_back(conv(p + ".conv1", p + ".bn1", c, stride));
        convs.push_back(conv(p + ".conv2", p + ".bn2", convs[0].out.channels, 1));
      }
      const int64_t out = convs.back().out.channels;
      View identity = cur, in = cur;
      for (size_t i = 0; i + 1 < convs.size(); ++i) {
        convs[i].relu = true;
        convs[i].in = in;
        const std::string name = convs[i].name;
        in = plan.add_new(std::move(convs[i]), name);
      }
      if (sd.has(p + ".downsample.0.weight")) {
        Step ds = folded_conv(sd, p + ".downsample.0", p + ".downsample.1", c, stride, 0);
        ds.name = p + ".downsample";
        ds.in = cur;
        identity = plan.add_new(std::move(ds), p + ".downsample");
      } else if (stride != 1 || out != c) {
        throw_error(sd.source, ": ", p, " changes shape but has no downsample weights");
      }
      Step& last = convs.back();
      last.relu = true;
      last.in = in;
      last.residual = identity;
      cur = plan.add_new(std::move(last), p);
    }
    if (n == 0) throw_error(sd.source, ": no layer", stage, ".0 weights; not a 4-stage ResNet");
    stage_blocks.push_back(n);
  }
  const Tensor& fc = sd.at("fc.weight");
  if (fc.dim() != 2 || fc.size(1) != cur.channels)
    throw_error(sd.source, ": fc.weight has shape ", fc.shape_str(), ", expected (C, ", cur.channels, ")");
  plan.fc_weight = fc;
  plan.fc_bias = sd.at("fc.bias", {fc.size(0)});
  plan.name = resnet_depth_name(bottleneck, stage_blocks) + " (" + std::to_string(fc.size(0)) + " classes)";
  plan.facts = {{"bottleneck", bottleneck ? 1 : 0}};
  for (size_t i = 0; i < stage_blocks.size(); ++i) plan.facts["stage" + std::to_string(i + 1)] = stage_blocks[i];

  Step head;
  head.op = StepOp::kGlobalAvgPool;
  head.name = "head";
  head.in = cur;
  plan.finish(plan.add_new(std::move(head), "features").tensor);
  return plan;
}

}  // namespace dice
