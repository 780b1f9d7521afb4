// Inference BatchNorm as a per-channel affine map: y = x * scale + shift, with
// scale = gamma / sqrt(running_var + eps), shift = beta - running_mean * scale (computed in double).
// Folding it this way lets every conv and pool take BN as a prologue or epilogue.
#pragma once
#include <cstdint>
#include <vector>

namespace dice {

struct BnAffine {
  std::vector<float> scale, shift;
};

BnAffine bn_fold(const float* gamma, const float* beta, const float* mean, const float* var,
                 int64_t channels, double eps = 1e-5);

// y = relu?(x * scale[c] + shift[c]) over an NCHW tensor (standalone op; the spec for fusions).
void batchnorm_cpu(int64_t batch, int64_t channels, int64_t hw, const float* in, float* out,
                   const float* scale, const float* shift, bool relu);

}  // namespace dice
