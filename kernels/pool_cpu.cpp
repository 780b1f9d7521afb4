// Pooling on the CPU (see pool.h): direct loops, one work item per (image, channel) plane. These
// ops move little data compared with the convolutions around them, so clarity wins over tiling;
// the optional BN+ReLU prologue is applied to each input element as it is read, and padded
// positions take the value the header specifies (0 for average pooling, -inf for max pooling).
#include <algorithm>
#include <limits>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"
#include "kernels/gemm_cpu.h"
#include "kernels/pool.h"

namespace dice {
namespace {

void check(const Pool2dParams& p) {
  DICE_ASSERT(p.batch >= 0 && p.channels > 0 && p.height > 0 && p.width > 0 && p.kernel > 0 &&
              p.stride > 0 && p.pad >= 0 && p.pad * 2 <= p.kernel);
  DICE_ASSERT(p.out_height() > 0 && p.out_width() > 0);
}

}  // namespace

// One item per (image, channel) plane; the window sum is accumulated in float, in window order.
void avg_pool2d_cpu(const Pool2dParams& p, const float* in, float* out, const float* in_scale,
                    const float* in_shift) {
  check(p);
  DICE_ASSERT((in_scale == nullptr) == (in_shift == nullptr));
  const int64_t H = p.height, W = p.width, Ho = p.out_height(), Wo = p.out_width();
  const int64_t R = p.kernel, S = p.stride, P = p.pad, C = p.channels;
  // count_include_pad=True and no ceil mode: every window lies inside the padded input, so the
  // divisor is always R*R.
  const float inv = 1.0f / static_cast<float>(R * R);
  parallel_for(p.batch * C, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / C, c = item % C;
      const float* x = in + n * p.in_stride() + c * H * W;
      float* y = out + n * p.out_stride() + c * Ho * Wo;
      const float s = in_scale ? in_scale[c] : 1.0f, t = in_scale ? in_shift[c] : 0.0f;
      if (R == 2 && S == 2 && P == 0) {
        // DenseNet's transition pool: no bounds checks, same summation order as below.
        for (int64_t oy = 0; oy < Ho; ++oy) {
          const float* r0 = x + 2 * oy * W;
          const float* r1 = r0 + W;
          float* yr = y + oy * Wo;
          if (in_scale) {
            for (int64_t ox = 0; ox < Wo; ++ox) {
              const float a = std::max(r0[2 * ox] * s + t, 0.0f);
              const float b = std::max(r0[2 * ox + 1] * s + t, 0.0f);
              const float c2 = std::max(r1[2 * ox] * s + t, 0.0f);
              const float d = std::max(r1[2 * ox + 1] * s + t, 0.0f);
              yr[ox] = (((a + b) + c2) + d) * inv;
            }
          } else {
            for (int64_t ox = 0; ox < Wo; ++ox)
              yr[ox] = (((r0[2 * ox] + r0[2 * ox + 1]) + r1[2 * ox]) + r1[2 * ox + 1]) * inv;
          }
        }
        continue;
      }
      for (int64_t oy = 0; oy < Ho; ++oy) {
        const int64_t y0 = std::max<int64_t>(oy * S - P, 0), y1 = std::min(oy * S - P + R, H);
        for (int64_t ox = 0; ox < Wo; ++ox) {
          const int64_t x0 = std::max<int64_t>(ox * S - P, 0), x1 = std::min(ox * S - P + R, W);
          float sum = 0.0f;  // padded taps add 0
          for (int64_t iy = y0; iy < y1; ++iy) {
            for (int64_t ix = x0; ix < x1; ++ix) {
              float v = x[iy * W + ix];
              if (in_scale) v = std::max(v * s + t, 0.0f);
              sum += v;
            }
          }
          y[oy * Wo + ox] = sum * inv;
        }
      }
    }
  });
}

// The direct loop over one plane: the spec, and the path for planes that hold a NaN.
void max_pool_plane_direct(const Pool2dParams& p, const float* x, float* y) {
  const int64_t H = p.height, W = p.width, Ho = p.out_height(), Wo = p.out_width();
  const int64_t R = p.kernel, S = p.stride, P = p.pad;
  for (int64_t oy = 0; oy < Ho; ++oy) {
    const int64_t y0 = std::max<int64_t>(oy * S - P, 0), y1 = std::min(oy * S - P + R, H);
    for (int64_t ox = 0; ox < Wo; ++ox) {
      const int64_t x0 = std::max<int64_t>(ox * S - P, 0), x1 = std::min(ox * S - P + R, W);
      float m = -std::numeric_limits<float>::infinity();  // padded taps are -inf
      bool nan = false;  // kept apart so the max stays a branch-free maxss
      for (int64_t iy = y0; iy < y1; ++iy) {
        for (int64_t ix = x0; ix < x1; ++ix) {
          const float v = x[iy * W + ix];
          nan |= v != v;
          m = std::max(m, v);
        }
      }
      y[oy * Wo + ox] = nan ? std::numeric_limits<float>::quiet_NaN() : m;
    }
  }
}

// One item per (image, channel) plane, separably: for each output row the window's input rows are
// reduced column by column into a row buffer (contiguous, vectorised), then each output takes the
// max of its window of that buffer; max is exact and order-free, so this equals the direct loop.
// Both passes use the branch-free max, which may drop a NaN, so the first pass also notes whether
// any NaN was read, and such a plane is redone by the direct loop: NaN propagates, as in PyTorch.
// (ResNet-50's 3x3/2 pool at batch 8, 2 cores: 12.8 ms direct.)
void max_pool2d_cpu(const Pool2dParams& p, const float* in, float* out) {
  check(p);
  const int64_t H = p.height, W = p.width, Ho = p.out_height(), Wo = p.out_width();
  const int64_t R = p.kernel, S = p.stride, P = p.pad, C = p.channels;
  if (R == 3 && S == 2 && P == 1) {
    // ResNet's pool after the stem, on the ISA's vectors (GemmIsa::max_pool_3s2); a plane with a
    // NaN or an infinity is redone by the direct loop. 64 x 112 x 112 planes, 2 EPYC cores, best
    // of 50, three alternations: batch 1 0.43-0.46 ms with the separable loop below -> 0.10-0.11
    // (one run 0.43); batch 8 3.88-3.91 -> 1.31-1.94.
    const GemmIsa& isa = cpu_isa();
    parallel_for(p.batch * C, [&](int64_t begin, int64_t end) {
      std::vector<float> buf(static_cast<size_t>(max_pool_3s2_buf(W)));
      for (int64_t item = begin; item < end; ++item) {
        const int64_t n = item / C, c = item % C;
        const float* x = in + n * p.in_stride() + c * H * W;
        float* y = out + n * p.out_stride() + c * Ho * Wo;
        MaxPoolRows rows;
        rows.x = x, rows.h = H, rows.w = W, rows.ldx = W, rows.oy1 = Ho, rows.y = y;
        if (!isa.max_pool_3s2(rows, buf.data())) max_pool_plane_direct(p, x, y);
      }
    });
    return;
  }
  parallel_for(p.batch * C, [&](int64_t begin, int64_t end) {
    std::vector<float> row(static_cast<size_t>(W));
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / C, c = item % C;
      const float* x = in + n * p.in_stride() + c * H * W;
      float* y = out + n * p.out_stride() + c * Ho * Wo;
      int nan = 0;
      for (int64_t oy = 0; oy < Ho; ++oy) {
        const int64_t y0 = std::max<int64_t>(oy * S - P, 0), y1 = std::min(oy * S - P + R, H);
        float* t = row.data();
        const float* r0 = x + y0 * W;
        for (int64_t ix = 0; ix < W; ++ix) {
          t[ix] = r0[ix];
          nan |= r0[ix] != r0[ix];
        }
        for (int64_t iy = y0 + 1; iy < y1; ++iy) {
          const float* r = x + iy * W;
          for (int64_t ix = 0; ix < W; ++ix) {
            t[ix] = std::max(t[ix], r[ix]);
            nan |= r[ix] != r[ix];
          }
        }
        float* yr = y + oy * Wo;
        for (int64_t ox = 0; ox < Wo; ++ox) {
          // padded taps are -inf: the window is clipped to the row; it always holds one real tap
          const int64_t x0 = std::max<int64_t>(ox * S - P, 0), x1 = std::min(ox * S - P + R, W);
          float m = t[x0];
          for (int64_t ix = x0 + 1; ix < x1; ++ix) m = std::max(m, t[ix]);
          yr[ox] = m;
        }
      }
      if (nan) max_pool_plane_direct(p, x, y);
    }
  });
}

// One item per (image, channel); the mean is accumulated in double.
void global_avg_pool_cpu(int64_t batch, int64_t channels, int64_t hw, const float* in, float* out,
                         const float* in_scale, const float* in_shift, int64_t in_batch_stride) {
  DICE_ASSERT(batch >= 0 && channels > 0 && hw > 0);
  DICE_ASSERT((in_scale == nullptr) == (in_shift == nullptr));
  const int64_t st = in_batch_stride ? in_batch_stride : channels * hw;
  parallel_for(
      batch * channels,
      [&](int64_t begin, int64_t end) {
        for (int64_t item = begin; item < end; ++item) {
          const int64_t n = item / channels, c = item % channels;
          const float* x = in + n * st + c * hw;
          // Four running sums (double), so the adds do not wait on each other (one chain was a
          // latency-bound 4 cycles per element: 0.9% of DenseNet-101's forward at batch 128).
          const bool act = in_scale != nullptr;
          const float s = act ? in_scale[c] : 1.0f, t = act ? in_shift[c] : 0.0f;
          auto val = [&](int64_t i) {
            return static_cast<double>(act ? std::max(x[i] * s + t, 0.0f) : x[i]);
          };
          double sum[4] = {0, 0, 0, 0};
          int64_t i = 0;
          for (; i + 4 <= hw; i += 4)
            for (int j = 0; j < 4; ++j) sum[j] += val(i + j);
          for (; i < hw; ++i) sum[0] += val(i);
          const double total = (sum[0] + sum[1]) + (sum[2] + sum[3]);
          out[item] = static_cast<float>(total / static_cast<double>(hw));
        }
      },
      16);
}

}  // namespace dice
