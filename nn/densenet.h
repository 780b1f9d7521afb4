// DenseNet-BC (Huang et al.) as in the DICE reference's DenseNet3(depth, classes, growth,
// reduction=0.5, bottleneck=True): the paper's "DenseNet-101" is depth 100, growth 12.
// This file is the builder of its plan (nn/plan.h); the executors run it.
//
// The plan: each dense block is one tensor of its final width; every bottleneck layer writes its
// `growth` channels into its slice, so the torch.cat of the reference costs nothing. Fusions, all
// exact up to float rounding:
//   bottleneck: conv1x1 with bn1+ReLU applied while loading its input and bn2+ReLU applied in its
//               epilogue, then conv3x3 reading that activated tensor (zero padding after the
//               activation, as in the reference) and writing into the block slice;
//   transition: avgpool2x2(conv1x1(relu(bn(x)))) == conv1x1(avgpool2x2(relu(bn(x)))) since the
//               conv is linear without bias: pooling first does a quarter of the arithmetic;
//   head:       relu(bn(x)) fused into the global average pool.
// Step names (what profiles report): stem, bottleneck_1x1, bottleneck_3x3, transition_pool,
// transition_conv, head. Facts: depth, growth, layers_per_block, stem_channels.
#pragma once
#include "nn/plan.h"
#include "weights/state_dict.h"

namespace dice {

// Infers the configuration from the keys (block{1,2,3}.layer.{i}) and shapes; throws dice::Error
// naming the file and the key for anything missing or ill-shaped.
Plan densenet_plan(const StateDict& sd);

}  // namespace dice
