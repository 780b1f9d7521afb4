// The DICE layer's weight mask (DICE.md, "The DICE layer"), computed exactly as the reference's
// RouteDICE.calculate_mask_weight does it in numpy:
//   V[c][d] = m[d] * W[c][d]   in float64: numpy promotes the float32 W against the float64 m
//   t = np.percentile(V, p)    numpy's default 'linear' method over all C*D entries
//   M = V > t                  strictly greater, so ties at the threshold are dropped
// percentile_linear is a bit-for-bit port of numpy 1.24's percentile, which matters here: the
// mask is a hard cut, and a threshold one ulp off can flip a weight that sits on it.
#pragma once
#include <cstdint>
#include <vector>

namespace dice {

// np.percentile(values, p) with method='linear' (numpy's default), in float64 as numpy does it:
// virtual index (n-1) * (p/100), the two order statistics around it, and numpy's two-sided lerp.
// A NaN anywhere gives NaN (numpy sorts NaN last and then reports NaN). Throws dice::Error if
// values is empty or p is outside [0, 100].
double percentile_linear(std::vector<double> values, double p);

struct DiceMask {
  std::vector<uint8_t> mask;  // [classes][features], 1 = weight kept
  double threshold = 0;       // the p-th percentile of the contributions
  int64_t kept = 0;           // number of ones in mask
};

// weight: the fc weight, float32 [classes][features] row-major; feat_mean: the training-set mean
// of the penultimate feature (the reference's *_feat_stat.npy), float64 [features]; p in [0, 100]
// (the paper: 90 on CIFAR, 70 on ImageNet). Throws dice::Error on bad sizes, p, or non-finite
// inputs (a NaN mean would silently mask everything).
DiceMask dice_mask(const float* weight, int64_t classes, int64_t features, const double* feat_mean,
                   double p);

}  // namespace dice
