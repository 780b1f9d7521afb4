// Pooling ops, NCHW float32, with optional BN+ReLU applied to the input first (DenseNet's
// transition pools relu(bn(x)) and its head pools relu(bn(x)) globally).
// in_scale/in_shift, when non-null, map x -> relu(x * in_scale[c] + in_shift[c]) before pooling.
#pragma once
#include <cstdint>

namespace dice {

struct Pool2dParams {
  int64_t batch = 1, channels = 0, height = 0, width = 0;
  int64_t kernel = 2, stride = 2, pad = 0;
  int64_t in_batch_stride = 0;   // 0 means channels * height * width
  int64_t out_batch_stride = 0;  // 0 means channels * out_height() * out_width()

  int64_t out_height() const { return (height + 2 * pad - kernel) / stride + 1; }
  int64_t out_width() const { return (width + 2 * pad - kernel) / stride + 1; }
  int64_t in_stride() const { return in_batch_stride ? in_batch_stride : channels * height * width; }
  int64_t out_stride() const {
    return out_batch_stride ? out_batch_stride : channels * out_height() * out_width();
  }
};

// Average pool; padded positions count as zeros in the divisor (PyTorch's count_include_pad=True).
void avg_pool2d_cpu(const Pool2dParams& p, const float* in, float* out,
                    const float* in_scale = nullptr, const float* in_shift = nullptr);
// Max pool; padded positions are -inf (PyTorch semantics).
void max_pool2d_cpu(const Pool2dParams& p, const float* in, float* out);
// Mean over height*width of each channel: out[n][c]. in_batch_stride 0 means channels*hw.
void global_avg_pool_cpu(int64_t batch, int64_t channels, int64_t hw, const float* in, float* out,
                         const float* in_scale = nullptr, const float* in_shift = nullptr,
                         int64_t in_batch_stride = 0);

}  // namespace dice
