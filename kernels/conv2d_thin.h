// conv2d_thin: conv2d_cuda's kernel for convolutions with few output channels (DenseNet-BC's
// 3x3 48 -> 12 and 1x1 C -> 48 bottleneck convs, its transitions), fp32 NCHW. Internal to
// kernels/: conv2d_cuda (conv2d.cu) dispatches here when conv2d_thin_unsupported is empty and the
// CudaConvAlgo allows it (see conv2d_cuda.h).
//
// The generic implicit GEMM (conv2d.cu) tiles output channels by 16/32/64, so 12 of 16 and 48 of
// 64 rows do work (25% waste), and it reads both operands from shared memory for every FMA, which
// caps it at 20-50% of the fp32 peak. Here a thread keeps 12 output channels x 4 adjacent pixels
// (48 accumulators) in registers: per input channel and tap it reads 12 weights with three
// broadcast 16-byte shared loads (every lane of a warp reads the same address when the layer has
// at most 12 outputs) and its pixels' inputs with one 16-byte global load per input row, taking
// the two halo columns of a 3x3 window from its neighbours by warp shuffles. See conv2d_thin.cu.
#pragma once
#ifdef DICE_HAVE_CUDA
#include <cuda_runtime.h>

#include <string>

#include "kernels/conv2d.h"

namespace dice {

// Empty when conv2d_thin can run `p` with fusion `f` on these device pointers; otherwise why not
// (kernel shape, output channels, widths or pointers not 16-byte aligned).
std::string conv2d_thin_unsupported(const Conv2dParams& p, const ConvFusion& f, const float* in,
                                    const float* out);

// Enqueues the convolution; the caller has checked conv2d_thin_unsupported.
void conv2d_thin(const Conv2dParams& p, const float* in, const float* weight, float* out,
                 const ConvFusion& f, cudaStream_t stream);

}  // namespace dice

#endif  // DICE_HAVE_CUDA
