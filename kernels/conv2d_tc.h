// conv2d_tc: the tensor-core version of conv2d_cuda (kernels/conv2d_cuda.h) for tf32, fp16 and
// bf16 operands with float32 accumulation: same Conv2dParams, same fusions (pre-activation
// BN+ReLU, bias, folded BN, residual, ReLU), same NCHW float32 activations and channel-slice
// strides, so a network can switch any convolution between the two kernels without touching its
// buffers. The weights are packed once, at plan time, by conv2d_tc_pack_weights into the operand
// type and a zero-padded [round_up(O, 64)][round_up(C*k*k, 32)] layout; the activations are rounded
// to the operand type as the kernel stages them (see conv2d_tc.cu for why NCHW float32 is kept).
//
// The CUTLASS habit: ask conv2d_tc_unsupported(params, fusion, precision) before running, and fall
// back to conv2d_cuda (fp32) where it says no; conv2d_tc throws dice::Error with that message.
// tensor_cores_unsupported(device) says whether the GPU has the mma.sync shapes (sm_80 or newer).
// Without DICE_HAVE_CUDA this header declares nothing but the host-side packing size.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/precision.h"

namespace dice {

// The block tile of conv2d_tc (also the padding of the packed weights).
struct Conv2dTcTile {
  static constexpr int kM = 64;   // output channels per block
  static constexpr int kN = 128;  // output pixels (batch * out_h * out_w) per block
  static constexpr int kK = 32;   // reduction (C * k * k) per shared-memory slab
};

// Bytes of the packed weights of `p` at `precision` (a tensor-core precision).
size_t conv2d_tc_packed_bytes(const Conv2dParams& p, Precision precision);
// Packs PyTorch-layout float weights [O][C][k][k] (already BN-folded) into the kernel's operand
// layout: row o, column j = (c * k + ky) * k + kx, rounded to the operand type (as
// round_to_precision does), zero in the padding. Returns conv2d_tc_packed_bytes(p, precision) bytes.
std::vector<uint8_t> conv2d_tc_pack_weights(const Conv2dParams& p, Precision precision,
                                            const float* weight);

}  // namespace dice

#ifdef DICE_HAVE_CUDA
#include <cuda_runtime.h>

namespace dice {

// Empty when conv2d_tc can run `p` with `f` at `precision`; otherwise why not.
std::string conv2d_tc_unsupported(const Conv2dParams& p, const ConvFusion& f, Precision precision);
// Empty when `device` can run conv2d_tc (compute capability 8.0 or newer); otherwise why not.
std::string tensor_cores_unsupported(int device = 0);

// out = conv(in, packed weights) with the fusions of `f`; device pointers. `packed_weight` comes
// from conv2d_tc_pack_weights(p, precision, ...) uploaded to the device (16-byte aligned).
void conv2d_tc(const Conv2dParams& p, Precision precision, const float* in,
               const void* packed_weight, float* out, const ConvFusion& f = {},
               cudaStream_t stream = nullptr);

}  // namespace dice

#endif  // DICE_HAVE_CUDA
