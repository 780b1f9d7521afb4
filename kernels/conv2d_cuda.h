// conv2d_cuda: the CUDA version of conv2d_cpu (kernels/conv2d.h), same params, same fusions, same
// channel-slice strides. All pointers, those inside ConvFusion included, are device pointers.
// The call only enqueues work on `stream`; errors in the arguments throw dice::Error up front.
// Without DICE_HAVE_CUDA this header declares nothing.
#pragma once
#ifdef DICE_HAVE_CUDA
#include <cuda_runtime.h>

#include <string>

#include "kernels/conv2d.h"

namespace dice {

// Empty when conv2d_cuda can run `p` (and fusion `f`); otherwise why not (the CUTLASS habit of
// asking can_implement before run). conv2d_cuda throws dice::Error with this message.
std::string conv2d_cuda_unsupported(const Conv2dParams& p, const ConvFusion& f = {});

void conv2d_cuda(const Conv2dParams& p, const float* in, const float* weight, float* out,
                 const ConvFusion& f = {}, cudaStream_t stream = nullptr);

// Which kernel conv2d_cuda runs:
//   kAuto  the default: conv2d_thin (kernels/conv2d_thin.h: a thread keeps 12 output channels x 4
//          pixels) for 3x3/1 pad-1 and 1x1/1 pad-0 convs with at most 192 output channels, widths
//          (3x3) or pixel counts (1x1) a multiple of 4 and 16-byte aligned tensors: DenseNet-BC's
//          bottleneck and transition convs; the implicit GEMM (conv2d.cu) for everything else
//   kGemm  the implicit GEMM for every conv (the previous kernel; measurements, tests)
// Both sum each output's terms in the same order. DICE_CUDA_CONV=auto|gemm sets it for the
// process; set_cuda_conv_algo returns the previous setting. A CUDA graph keeps the kernels chosen
// when it was captured.
enum class CudaConvAlgo { kAuto = 0, kGemm = 1 };
CudaConvAlgo cuda_conv_algo();
CudaConvAlgo set_cuda_conv_algo(CudaConvAlgo algo);
// Parses "auto" / "gemm"; throws a one-line error naming `what` otherwise.
CudaConvAlgo parse_cuda_conv_algo(const char* name, const char* what);
class ScopedCudaConvAlgo {
 public:
  explicit ScopedCudaConvAlgo(CudaConvAlgo algo) : old_(set_cuda_conv_algo(algo)) {}
  ~ScopedCudaConvAlgo() { set_cuda_conv_algo(old_); }
  ScopedCudaConvAlgo(const ScopedCudaConvAlgo&) = delete;
  ScopedCudaConvAlgo& operator=(const ScopedCudaConvAlgo&) = delete;

 private:
  CudaConvAlgo old_;
};
// The kernel conv2d_cuda would run for these arguments under the current setting: "thin" or
// "gemm" (tests check which one their cases exercise; benchmarks label their rows).
const char* conv2d_cuda_kernel(const Conv2dParams& p, const ConvFusion& f, const float* in,
                               const float* out);

}  // namespace dice

#endif  // DICE_HAVE_CUDA
