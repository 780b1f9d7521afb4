// 2-D convolution, NCHW float32, square kernels, with the fusions both networks need.
//
// Input and output may be channel slices of larger buffers (DenseNet concatenates by writing each
// layer's channels into its slice of one block buffer): image i, channel c of the input starts at
// in + i * in_batch_stride + c * height * width; likewise for the output with out_batch_stride.
// Weights are PyTorch's layout [out_channels][in_channels][kernel][kernel].
//
// Order of the fused operations, per output element:
//   a   = in_scale ? relu(x * in_scale[c] + in_shift[c]) : x     (pre-activation BN+ReLU, DenseNet)
//         zero padding is applied to `a`, i.e. after the activation, as PyTorch's conv(relu(bn(x))).
//   y   = sum(w * a) (+ bias[o])
//   y   = out_scale ? y * out_scale[o] + out_shift[o] : y        (folded BN of the next layer)
//   y  += residual (same layout and stride as out)                (ResNet shortcut)
//   y   = out_relu ? max(y, 0) : y
#pragma once
#include <cstdint>
#include <vector>

namespace dice {

struct Conv2dParams {
  int64_t batch = 1, in_channels = 0, height = 0, width = 0;
  int64_t out_channels = 0, kernel = 1, stride = 1, pad = 0;
  int64_t in_batch_stride = 0;   // 0 means in_channels * height * width
  int64_t out_batch_stride = 0;  // 0 means out_channels * out_height() * out_width()

  int64_t out_height() const { return (height + 2 * pad - kernel) / stride + 1; }
  int64_t out_width() const { return (width + 2 * pad - kernel) / stride + 1; }
  int64_t in_stride() const { return in_batch_stride ? in_batch_stride : in_channels * height * width; }
  int64_t out_stride() const {
    return out_batch_stride ? out_batch_stride : out_channels * out_height() * out_width();
  }
  double flops() const {
    return 2.0 * batch * out_channels * out_height() * out_width() * in_channels * kernel * kernel;
  }
};

struct ConvFusion {
  const float* in_scale = nullptr;  // [in_channels], with in_shift: relu(x*s+t) on the input
  const float* in_shift = nullptr;
  const float* bias = nullptr;       // [out_channels]
  const float* out_scale = nullptr;  // [out_channels], with out_shift
  const float* out_shift = nullptr;
  const float* residual = nullptr;   // laid out like out
  bool out_relu = false;
};

// Reference and CPU path: blocked GEMM over im2col panels, parallel over images and tiles.
void conv2d_cpu(const Conv2dParams& p, const float* in, const float* weight, float* out,
                const ConvFusion& f = {});

// The weights of one conv packed for conv2d_cpu on the running CPU's instruction set, so that a
// network packs each layer once instead of on every call and needs no other copy of them. (Should
// the ISA be capped after packing, conv2d_cpu unpacks and repacks per call: correct, slower.)
struct Conv2dCpuPacked {
  std::vector<float> a;
  int mr = 0;
};
Conv2dCpuPacked conv2d_cpu_pack(const Conv2dParams& p, const float* weight);
// conv2d_cpu with weights from conv2d_cpu_pack(p, ...); results identical to the unpacked call.
void conv2d_cpu(const Conv2dParams& p, const float* in, const Conv2dCpuPacked& w, float* out,
                const ConvFusion& f = {});

// Straightforward loops: the spec that conv2d_cpu itself is tested against (slow).
void conv2d_naive(const Conv2dParams& p, const float* in, const float* weight, float* out,
                  const ConvFusion& f = {});

}  // namespace dice
