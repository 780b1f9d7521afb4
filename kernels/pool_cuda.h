// CUDA versions of the pooling ops of kernels/pool.h: same params, same semantics (average pool
// counts padding as zeros, max pool treats it as -inf, the optional in_scale/in_shift apply
// relu(x * scale[c] + shift[c]) to the input first). All pointers are device pointers; the calls
// only enqueue work on `stream` and throw dice::Error on invalid sizes.
// Without DICE_HAVE_CUDA this header declares nothing.
#pragma once
#ifdef DICE_HAVE_CUDA
#include <cuda_runtime.h>

#include "kernels/pool.h"

namespace dice {

void avg_pool2d_cuda(const Pool2dParams& p, const float* in, float* out,
                     const float* in_scale = nullptr, const float* in_shift = nullptr,
                     cudaStream_t stream = nullptr);
void max_pool2d_cuda(const Pool2dParams& p, const float* in, float* out,
                     cudaStream_t stream = nullptr);
// out[n][c] = mean over hw of (relu(bn(x)) or x); in_batch_stride 0 means channels * hw.
void global_avg_pool_cuda(int64_t batch, int64_t channels, int64_t hw, const float* in, float* out,
                          const float* in_scale = nullptr, const float* in_shift = nullptr,
                          int64_t in_batch_stride = 0, cudaStream_t stream = nullptr);

}  // namespace dice

#endif  // DICE_HAVE_CUDA
