// DICE mask and numpy's linear percentile (see dice_mask.h for the definitions).
// The percentile follows numpy 1.24 (lib/function_base.py: percentile -> _quantile -> _lerp) step
// by step rather than by formula, because each step rounds:
//   q = p / 100;  vi = (n - 1) * q;  prev = floor(vi), next = prev + 1
//   vi >= n - 1: both neighbours are the last element (and then gamma = vi - (-1), numpy's quirk)
//   gamma = vi - prev;  lerp(a, b, t) = a + (b - a) * t, or b - (b - a) * (1 - t) when t >= 0.5.
#include "ood/dice_mask.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace dice {

double percentile_linear(std::vector<double> values, double p) {
  if (values.empty()) throw_error("percentile of an empty array");
  if (!(p >= 0 && p <= 100)) throw_error("percentile p must be in [0, 100], got ", p);
  for (double v : values)
    if (std::isnan(v)) return std::numeric_limits<double>::quiet_NaN();
  const int64_t n = static_cast<int64_t>(values.size());
  const double q = p / 100.0;
  const double vi = static_cast<double>(n - 1) * q;
  int64_t prev, next;
  if (vi >= static_cast<double>(n - 1)) {
    prev = next = n - 1;  // numpy's index -1
  } else {
    prev = static_cast<int64_t>(std::floor(vi));
    next = prev + 1;
  }
  // numpy computes gamma against the index it stored, which is -1 for the last element.
  const double gamma = vi - static_cast<double>(prev == n - 1 ? -1 : prev);
  std::nth_element(values.begin(), values.begin() + prev, values.end());
  const double a = values[prev];
  const double b = next == prev ? a : *std::min_element(values.begin() + next, values.end());
  const double diff = b - a;
  // The products go through volatile so that no compiler (e.g. GCC with -march=native, which
  // contracts even in ISO mode) fuses them into an FMA: numpy rounds the product first.
  volatile double lo_part = diff * gamma;
  volatile double hi_part = diff * (1.0 - gamma);
  return gamma >= 0.5 ? b - hi_part : a + lo_part;
}

DiceMask dice_mask(const float* weight, int64_t classes, int64_t features, const double* feat_mean,
                   double p) {
  if (classes <= 0 || features <= 0)
    throw_error("DICE mask: bad fc shape ", classes, " x ", features);
  if (!weight || !feat_mean) throw_error("DICE mask: missing fc weight or feature mean");
  if (!(p >= 0 && p <= 100)) throw_error("DICE: --p must be in [0, 100] (a percentile), got ", p);
  for (int64_t d = 0; d < features; ++d)
    if (!std::isfinite(feat_mean[d]))
      throw_error("DICE: the feature mean has a non-finite value at index ", d,
                  "; recompute the feature statistics");
  const int64_t n = classes * features;
  std::vector<double> contrib(static_cast<size_t>(n));
  for (int64_t c = 0; c < classes; ++c)
    for (int64_t d = 0; d < features; ++d) {
      const float w = weight[c * features + d];
      if (!std::isfinite(w))
        throw_error("DICE: the fc weight has a non-finite value at [", c, "][", d,
                    "]; the checkpoint is damaged");
      contrib[c * features + d] = feat_mean[d] * static_cast<double>(w);
    }
  DiceMask out;
  out.threshold = percentile_linear(contrib, p);
  out.mask.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    out.mask[i] = contrib[i] > out.threshold ? 1 : 0;
    out.kept += out.mask[i];
  }
  return out;
}

}  // namespace dice
