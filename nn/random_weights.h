// Random state dicts with the exact key layout and shapes of the real checkpoints, for benchmarks
// and tests that must run where the paper's weights are absent. BatchNorm statistics are random
// too (not identity), so fused BN paths are exercised.
#pragma once
#include <cstdint>

#include "weights/state_dict.h"

namespace dice {

// DenseNet-BC as the DICE reference's DenseNet3(depth, classes, growth, 0.5, bottleneck=True).
StateDict random_densenet_state_dict(int64_t depth, int64_t growth, int64_t classes, uint64_t seed);

}  // namespace dice
