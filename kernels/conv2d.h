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

#include "kernels/pool.h"
#include "kernels/precision.h"

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
  std::vector<float> winograd;  // transformed filters, when packed under a Winograd CpuConvAlgo
  int winograd_tile = 0;        // their output tile: 2 (F(2x2, 3x3)) or 4 (F(4x4, 3x3))
  int winograd_nr = 0;          // 0: packed as rows; else transposed for this nr (conv2d_winograd.h)
  // Strided 1x1 convs whose output pixel count wastes a tenth of a micro-tile's columns
  // (ResNet-50's downsamples to 14x14 and 7x7): W^T as B panels of at_nr columns, for the
  // transposed GEMM conv2d_cpu runs there at batch 1 (bitwise the same results); empty elsewhere.
  std::vector<float> at;
  int at_nr = 0;
  // bf16 mode (packed with Precision::kBf16; `a` and `at` then stay empty): the weights rounded
  // to bfloat16 and paired over input channels (pairs of bf16 in 32-bit lanes, for bf16_mr). A
  // call rounds the conv's input (after the prologue) to bf16 as well and multiplies with
  // VDPBF16PS, accumulating in float32; epilogue in float32. Needs AVX512-BF16 (cpu_isa_bf16).
  // Convs that the CpuConvAlgo at packing time runs as Winograd get their fp32 Winograd filters
  // too and run those (faster than the bf16 GEMM there, and exact to fp32's bound); with
  // CpuConvAlgo::kDirect every conv runs bf16.
  std::vector<float> bf16;
  int bf16_mr = 0;
};
// precision: kFp32 (the default, exact to the spec) or kBf16 (above; throws dice::Error naming
// the fix where the CPU lacks AVX512-BF16); others throw.
Conv2dCpuPacked conv2d_cpu_pack(const Conv2dParams& p, const float* weight,
                                Precision precision = Precision::kFp32);
// conv2d_cpu with weights from conv2d_cpu_pack(p, ...); results identical to the unpacked call.
void conv2d_cpu(const Conv2dParams& p, const float* in, const Conv2dCpuPacked& w, float* out,
                const ConvFusion& f = {});

// That conv followed by max_pool2d_cpu with a 3x3 window, stride 2 and padding 1 (ResNet's stem
// and its pool), in one pass: band by band of the pool's output rows, the conv's rows for the band
// go into a per-thread buffer that stays in L2 (the row shared with the next band kept, not
// recomputed), and are pooled from there, instead of writing the conv's whole output and reading
// it back. conv2d_maxpool_fusable: whether this pair runs so (a strided conv that conv2d_cpu runs
// in phase mode with these packed weights, no residual; the pool over its whole output); the
// results are those of the two calls, bitwise (an image with a NaN or an infinity in the conv's
// output is redone by them).
bool conv2d_maxpool_fusable(const Conv2dParams& p, const ConvFusion& f, const Conv2dCpuPacked& w,
                            const Pool2dParams& pool);
void conv2d_maxpool_cpu(const Conv2dParams& p, const float* in, const Conv2dCpuPacked& w,
                        const ConvFusion& f, const Pool2dParams& pool, float* out);

// Which algorithm conv2d_cpu uses for 3x3, stride 1 or 2, pad 1 convs without a residual fusion:
//   kDirect    the GEMM over implicit im2col, as every other conv shape runs
//   kWinograd  the default: Winograd where it measured faster (conv2d_winograd.h): with at
//              least 32 output channels (none of DenseNet-BC's), F(4x4, 3x3) (4x fewer
//              multiply-adds) where an image has at least 16 4x4 tiles covering at most 35% more
//              than the map (ResNet-50's 56x56 to 14x14 3x3s), else F(2x2, 3x3) (2.25x fewer) with
//              at least 16 2x2 tiles per image (its 7x7 ones); at stride 2, F(2x2, 3x3) in its
//              5x5 form (coefficients 0 and +-1, 6.25 multiply-adds per output and input channel
//              instead of 9) with at least 16 2x2 output tiles per image; maps with fewer tiles
//              than a micro-tile has columns run transposed, bitwise the same; other rounding.
//              The rule looks at one image, never the batch, so an image's features do not
//              depend on the batch it came in. Default
//              because full ResNet-50 logits stay within the 1e-4 of PyTorch that
//              tests/nn/resnet_test.cpp and scripts/compare_resnet50_torch.py check.
//   kWinogradAll   F(2x2, 3x3) on every conv of that shape (tests, measurements)
//   kWinograd4All  F(4x4, 3x3) on every stride-1 conv of that shape, the direct GEMM at stride 2
//                  (tests, measurements)
// DICE_CPU_CONV=direct|winograd|winograd-all|winograd4-all sets it for the process;
// set_cpu_conv_algo (tests, tools) returns the previous setting. Weights packed by conv2d_cpu_pack
// carry the Winograd filters of the setting they were packed under; a call under another setting
// transforms them per call.
enum class CpuConvAlgo { kDirect = 0, kWinograd = 1, kWinogradAll = 2, kWinograd4All = 3 };
CpuConvAlgo cpu_conv_algo();
CpuConvAlgo set_cpu_conv_algo(CpuConvAlgo algo);
// Sets the algorithm for its lifetime and restores the previous one (tests, tools).
class ScopedCpuConvAlgo {
 public:
  explicit ScopedCpuConvAlgo(CpuConvAlgo algo) : old_(set_cpu_conv_algo(algo)) {}
  ~ScopedCpuConvAlgo() { set_cpu_conv_algo(old_); }
  ScopedCpuConvAlgo(const ScopedCpuConvAlgo&) = delete;
  ScopedCpuConvAlgo& operator=(const ScopedCpuConvAlgo&) = delete;

 private:
  CpuConvAlgo old_;
};
// Parses "direct" / "winograd" / "winograd-all" / "winograd4-all"; throws a one-line error naming `what` otherwise.
CpuConvAlgo parse_cpu_conv_algo(const char* name, const char* what);

// Straightforward loops: the spec that conv2d_cpu itself is tested against (slow).
void conv2d_naive(const Conv2dParams& p, const float* in, const float* weight, float* out,
                  const ConvFusion& f = {});

}  // namespace dice
