// head_cuda: the CUDA version of head_cpu (kernels/head.h): ReAct clip, (DICE-masked) fc, logits,
// energy, msp and argmax in one kernel. All pointers are device pointers; any output may be null,
// as may `bias` (treated as zeros) and `mask` (no mask). Only enqueues work on `stream`.
// Without DICE_HAVE_CUDA this header declares nothing.
#pragma once
#ifdef DICE_HAVE_CUDA
#include <cuda_runtime.h>

#include "kernels/head.h"

namespace dice {

void head_cuda(const HeadParams& p, const float* features, const float* weight, const float* bias,
               const uint8_t* mask, const HeadOutputs& out, cudaStream_t stream = nullptr);

}  // namespace dice

#endif  // DICE_HAVE_CUDA
