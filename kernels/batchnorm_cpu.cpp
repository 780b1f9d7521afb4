// Inference BatchNorm on the CPU (see batchnorm.h): folding into a per-channel affine map, and the
// standalone op that applies it (the spec the conv/pool prologues and epilogues must match).
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/parallel.h"
#include "kernels/batchnorm.h"

namespace dice {

BnAffine bn_fold(const float* gamma, const float* beta, const float* mean, const float* var,
                 int64_t channels, double eps) {
  DICE_ASSERT(channels >= 0 && eps >= 0);
  BnAffine bn;
  bn.scale.resize(static_cast<size_t>(channels));
  bn.shift.resize(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c) {
    const double s = static_cast<double>(gamma[c]) / std::sqrt(static_cast<double>(var[c]) + eps);
    bn.scale[c] = static_cast<float>(s);
    bn.shift[c] = static_cast<float>(static_cast<double>(beta[c]) - mean[c] * s);
  }
  return bn;
}

// One item per (image, channel) plane; in == out is allowed.
void batchnorm_cpu(int64_t batch, int64_t channels, int64_t hw, const float* in, float* out,
                   const float* scale, const float* shift, bool relu) {
  DICE_ASSERT(batch >= 0 && channels > 0 && hw >= 0);
  parallel_for(
      batch * channels,
      [&](int64_t begin, int64_t end) {
        for (int64_t item = begin; item < end; ++item) {
          const int64_t c = item % channels;
          const float s = scale[c], t = shift[c];
          const float* x = in + item * hw;
          float* y = out + item * hw;
          if (relu) {
            for (int64_t i = 0; i < hw; ++i) y[i] = std::max(x[i] * s + t, 0.0f);
          } else {
            for (int64_t i = 0; i < hw; ++i) y[i] = x[i] * s + t;
          }
        }
      },
      16);
}

}  // namespace dice
