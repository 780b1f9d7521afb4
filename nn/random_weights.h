// Random state dicts with the exact key layout and shapes of the real checkpoints, for benchmarks
// and tests that must run where the paper's weights are absent. BatchNorm statistics are random
// too (not identity), so fused BN paths are exercised.
#pragma once
#include <cstdint>
#include <vector>

#include "weights/state_dict.h"

namespace dice {

// DenseNet-BC as the DICE reference's DenseNet3(depth, classes, growth, 0.5, bottleneck=True).
StateDict random_densenet_state_dict(int64_t depth, int64_t growth, int64_t classes, uint64_t seed);

}  // namespace dice

namespace dice {

// torchvision ResNet with bottleneck blocks: blocks {3,4,6,3} and width 64 give ResNet-50.
StateDict random_resnet_state_dict(const std::vector<int64_t>& blocks, int64_t width,
                                   int64_t classes, uint64_t seed);

// ResNet-50 with He-initialised convs and the last BatchNorm of each block scaled down (gamma
// ~0.2), as in trained networks, so activations stay in fp16 range through all 16 blocks: what
// the GPU benchmarks time the tensor-core precisions on.
StateDict random_resnet50_trained_scale(uint64_t seed);

// WideResNet-depth-widen as the Outlier Exposure / Energy OOD papers define it
// (hendrycks/outlier-exposure CIFAR/models/wrn.py): the keys of its state_dict, BatchNorm's
// num_batches_tracked (0-dim) included, so the result matches a torch.save of that model key for
// key and shape for shape. depth - 4 must be a multiple of 6.
StateDict random_wideresnet_state_dict(int64_t depth, int64_t widen, int64_t classes,
                                       uint64_t seed);

}  // namespace dice
