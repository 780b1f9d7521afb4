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

}  // namespace dice

#endif  // DICE_HAVE_CUDA
