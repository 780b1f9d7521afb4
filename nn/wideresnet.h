// WideResNet (Zagoruyko & Komodakis) as the Outlier Exposure and Energy-based OOD papers train it
// on CIFAR (hendrycks/outlier-exposure, CIFAR/models/wrn.py: WRN-40-2 and WRN-28-10 there). This
// file is the builder of its plan (nn/plan.h).
//
// The reference's pre-activation BasicBlock, in_planes -> out_planes with stride s:
//   equal widths:   out = conv2(relu(bn2(conv1(relu(bn1(x)))))) + x
//   otherwise:      a = relu(bn1(x)); out = conv2(relu(bn2(conv1(a)))) + convShortcut(a)
// (the shortcut reads the activated input, not x). The plan fuses every BN+ReLU into a conv:
// relu(bn1) into the input of conv1 (and of the 1x1/s shortcut), relu(bn2) into conv1's epilogue,
// the residual add into conv2's epilogue; the head's relu(bn1) into the global average pool (the
// reference's avg_pool2d(8) over the final 8x8 map). Dropout is identity at inference.
// Step names: stem, blockB.layer.I.conv1 / .shortcut / .conv2, head.
// Facts: depth, widen, layers_per_block.
#pragma once
#include "nn/plan.h"
#include "weights/state_dict.h"

namespace dice {

Plan wideresnet_plan(const StateDict& sd);

// "wrn<depth>_<widen>" ("wrn40_2") of the checkpoint's keys and the stem-to-block1 width ratio.
std::string wideresnet_short_name(const StateDict& sd);

}  // namespace dice
