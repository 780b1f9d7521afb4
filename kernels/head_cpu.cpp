// The classifier head on the CPU (see head.h). The fc layer is small (at most 2048 x 1000 per
// sample), so it is computed directly: every logit is a double-precision dot product accumulated
// in feature order, then the bias, then one rounding to float. That makes the logits a
// deterministic function of the inputs, independent of the thread count, and lets the tests
// compare them exactly against a double reference. The scores reduce the float logits in double.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"
#include "kernels/head.h"

namespace dice {
namespace {

// Row statistics of one logit row: max, first argmax and sum(exp(l - max)), in double.
struct RowStats {
  double max;
  int32_t argmax;
  double sum_exp;
};

RowStats row_stats(const float* l, int64_t classes) {
  RowStats r{static_cast<double>(l[0]), 0, 0.0};
  for (int64_t c = 1; c < classes; ++c)
    if (l[c] > r.max) r.max = l[c], r.argmax = static_cast<int32_t>(c);
  for (int64_t c = 0; c < classes; ++c) r.sum_exp += std::exp(static_cast<double>(l[c]) - r.max);
  return r;
}

}  // namespace

// One item per sample: clip its feature once, then one dot product per class.
void head_cpu(const HeadParams& p, const float* features, const float* weight, const float* bias,
              const uint8_t* mask, const HeadOutputs& out) {
  DICE_ASSERT(p.batch >= 0 && p.in_features > 0 && p.classes > 0);
  const int64_t D = p.in_features, Cn = p.classes;
  parallel_for(p.batch, [&](int64_t begin, int64_t end) {
    std::vector<double> h(static_cast<size_t>(D));
    std::vector<float> logits(static_cast<size_t>(Cn));
    for (int64_t n = begin; n < end; ++n) {
      for (int64_t d = 0; d < D; ++d) h[d] = std::min(features[n * D + d], p.clip);
      // Four classes at a time: four independent accumulation chains (each still summed in
      // feature order, so the logits are bit-identical to one class at a time). A masked-out
      // weight adds +0.0, which leaves the sum unchanged: it is never -0.0.
      int64_t c = 0;
      for (; c + 4 <= Cn; c += 4) {
        const float* w0 = weight + c * D;
        const float* w1 = w0 + D;
        const float* w2 = w1 + D;
        const float* w3 = w2 + D;
        double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        if (mask) {
          const uint8_t* m0 = mask + c * D;
          const uint8_t* m1 = m0 + D;
          const uint8_t* m2 = m1 + D;
          const uint8_t* m3 = m2 + D;
          for (int64_t d = 0; d < D; ++d) {
            a0 += m0[d] ? static_cast<double>(w0[d]) * h[d] : 0.0;
            a1 += m1[d] ? static_cast<double>(w1[d]) * h[d] : 0.0;
            a2 += m2[d] ? static_cast<double>(w2[d]) * h[d] : 0.0;
            a3 += m3[d] ? static_cast<double>(w3[d]) * h[d] : 0.0;
          }
        } else {
          for (int64_t d = 0; d < D; ++d) {
            a0 += static_cast<double>(w0[d]) * h[d];
            a1 += static_cast<double>(w1[d]) * h[d];
            a2 += static_cast<double>(w2[d]) * h[d];
            a3 += static_cast<double>(w3[d]) * h[d];
          }
        }
        const double acc[4] = {a0, a1, a2, a3};
        for (int j = 0; j < 4; ++j)
          logits[c + j] = static_cast<float>(bias ? acc[j] + bias[c + j] : acc[j]);
      }
      for (; c < Cn; ++c) {
        const float* w = weight + c * D;
        double acc = 0;
        if (mask) {
          const uint8_t* m = mask + c * D;
          for (int64_t d = 0; d < D; ++d) acc += m[d] ? static_cast<double>(w[d]) * h[d] : 0.0;
        } else {
          for (int64_t d = 0; d < D; ++d) acc += static_cast<double>(w[d]) * h[d];
        }
        if (bias) acc += bias[c];
        logits[c] = static_cast<float>(acc);
      }
      if (out.logits) std::copy(logits.begin(), logits.end(), out.logits + n * Cn);
      if (out.energy || out.msp || out.argmax) {
        const RowStats r = row_stats(logits.data(), Cn);
        if (out.energy) out.energy[n] = static_cast<float>(r.max + std::log(r.sum_exp));
        if (out.msp) out.msp[n] = static_cast<float>(1.0 / r.sum_exp);
        if (out.argmax) out.argmax[n] = r.argmax;
      }
    }
  });
}

// One item per row.
void logsumexp_cpu(int64_t batch, int64_t classes, const float* logits, float* out) {
  DICE_ASSERT(batch >= 0 && classes > 0);
  parallel_for(
      batch,
      [&](int64_t begin, int64_t end) {
        for (int64_t n = begin; n < end; ++n) {
          const RowStats r = row_stats(logits + n * classes, classes);
          out[n] = static_cast<float>(r.max + std::log(r.sum_exp));
        }
      },
      64);
}

// One item per row.
void softmax_cpu(int64_t batch, int64_t classes, const float* logits, float* out) {
  DICE_ASSERT(batch >= 0 && classes > 0);
  parallel_for(
      batch,
      [&](int64_t begin, int64_t end) {
        for (int64_t n = begin; n < end; ++n) {
          const float* l = logits + n * classes;
          const RowStats r = row_stats(l, classes);
          for (int64_t c = 0; c < classes; ++c)
            out[n * classes + c] =
                static_cast<float>(std::exp(static_cast<double>(l[c]) - r.max) / r.sum_exp);
        }
      },
      64);
}

}  // namespace dice
