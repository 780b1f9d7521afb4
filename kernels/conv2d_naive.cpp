// conv2d_naive: the specification of conv2d (see conv2d.h), as direct loops with double
// accumulation. Every fused step is written out in the order the header states, so this file is
// what conv2d_cpu and the CUDA kernels are tested against. Slow by design.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"
#include "kernels/conv2d.h"

namespace dice {

// One work item per (image, output channel), accumulating its output plane tap by tap.
void conv2d_naive(const Conv2dParams& p, const float* in, const float* weight, float* out,
                  const ConvFusion& f) {
  DICE_ASSERT(p.batch >= 0 && p.in_channels > 0 && p.out_channels > 0 && p.kernel > 0 &&
              p.stride > 0 && p.pad >= 0);
  DICE_ASSERT((f.in_scale == nullptr) == (f.in_shift == nullptr));
  DICE_ASSERT((f.out_scale == nullptr) == (f.out_shift == nullptr));
  const int64_t C = p.in_channels, H = p.height, W = p.width, M = p.out_channels;
  const int64_t R = p.kernel, S = p.stride, P = p.pad;
  const int64_t Ho = p.out_height(), Wo = p.out_width();
  DICE_ASSERT(Ho > 0 && Wo > 0);
  const int64_t in_st = p.in_stride(), out_st = p.out_stride();

  parallel_for(p.batch * M, [&](int64_t begin, int64_t end) {
    std::vector<double> acc(static_cast<size_t>(Ho * Wo));
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / M, o = item % M;
      const float* x = in + n * in_st;
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t c = 0; c < C; ++c) {
        for (int64_t kh = 0; kh < R; ++kh) {
          for (int64_t kw = 0; kw < R; ++kw) {
            const double w = weight[((o * C + c) * R + kh) * R + kw];
            for (int64_t oy = 0; oy < Ho; ++oy) {
              const int64_t iy = oy * S - P + kh;
              if (iy < 0 || iy >= H) continue;  // zero padding, after the activation
              for (int64_t ox = 0; ox < Wo; ++ox) {
                const int64_t ix = ox * S - P + kw;
                if (ix < 0 || ix >= W) continue;
                double a = x[(c * H + iy) * W + ix];
                if (f.in_scale) a = std::max(a * f.in_scale[c] + f.in_shift[c], 0.0);
                acc[oy * Wo + ox] += a * w;
              }
            }
          }
        }
      }
      for (int64_t i = 0; i < Ho * Wo; ++i) {
        double y = acc[i];
        if (f.bias) y += f.bias[o];
        if (f.out_scale) y = y * f.out_scale[o] + f.out_shift[o];
        const int64_t idx = n * out_st + o * Ho * Wo + i;
        if (f.residual) y += f.residual[idx];
        if (f.out_relu) y = std::max(y, 0.0);
        out[idx] = static_cast<float>(y);
      }
    }
  });
}

}  // namespace dice
