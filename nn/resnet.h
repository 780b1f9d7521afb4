// ResNet in torchvision's layout (He et al., with the stride on the 3x3 conv: "v1.5"): the
// paper's ImageNet network is ResNet-50. This file is the builder of its plan (nn/plan.h). Depth,
// block type and widths are read from the state dict (basic blocks for 18/34, bottlenecks for
// 50/101/152; reduced widths work too).
//
// The plan: every BatchNorm is folded into the convolution before it (nn/plan.h's folded_conv),
// so each conv carries a bias; ReLU, and for the last conv of a block the residual add and ReLU,
// run in the conv's epilogue. Per block: its convs but the last, the downsample (if any), then the
// last conv adding the identity or the downsample's output.
// Step names: stem, maxpool, layerS.B.convI, layerS.B.downsample, head.
// Facts: bottleneck (0/1), stage1..stage4 (blocks per stage).
#pragma once
#include <string>
#include <vector>

#include "nn/plan.h"
#include "weights/state_dict.h"

namespace dice {

Plan resnet_plan(const StateDict& sd);

// "resnet<layers>" for a network of these blocks per stage ("resnet50").
std::string resnet_depth_name(bool bottleneck, const std::vector<int64_t>& stage_blocks);

}  // namespace dice
