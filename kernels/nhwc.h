// The ops around conv2d_nhwc (kernels/conv2d_nhwc.h) in NHWC half activations: the image's entry
// into the layout, ResNet's max pool, and the global average pool that leaves it again as the
// float32 features. Element type: 16-bit fp16 or bf16 bits (Precision kFp16 / kBf16); a tensor is
// [batch][height][width][ldc] with its channels first in each pixel (see conv2d_nhwc.h).
// Same semantics as the NCHW float ops of kernels/pool.h (max pool pads with -inf and propagates
// NaN; the global pool is a float32 mean), the values read being the 16-bit ones. All pointers are
// device pointers; the calls enqueue work on `stream` and throw dice::Error on bad sizes.
// Without DICE_HAVE_CUDA this header declares nothing.
#pragma once
#ifdef DICE_HAVE_CUDA
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/pool.h"
#include "kernels/precision.h"

namespace dice {

// out[n][y][x][c] = in[n][c][y][x] rounded to `precision`, for c < channels; 0 for channels <= c <
// out_ldc (the padding channels, e.g. 3 -> 8 for an image). out_ldc is a multiple of 8, >= channels.
// The input is dense NCHW float32 (in_batch_stride 0: channels * hw).
void nchw_to_nhwc16(int64_t batch, int64_t channels, int64_t hw, const float* in, uint16_t* out,
                    int64_t out_ldc, Precision precision, cudaStream_t stream = nullptr);

// Max pool over NHWC: p's sizes (batch strides must be 0), pixel strides in_ldc / out_ldc
// (multiples of 8, like p.channels).
void max_pool_nhwc16(const Pool2dParams& p, int64_t in_ldc, int64_t out_ldc, const uint16_t* in,
                     uint16_t* out, Precision precision, cudaStream_t stream = nullptr);

// out[n][c] (float32, batch rows of `channels`) = mean over the hw pixels of in[n][pixel][c].
void global_avg_pool_nhwc16(int64_t batch, int64_t channels, int64_t hw, int64_t in_ldc,
                            const uint16_t* in, float* out, Precision precision,
                            cudaStream_t stream = nullptr);

}  // namespace dice

#endif  // DICE_HAVE_CUDA
