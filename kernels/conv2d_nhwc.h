// conv2d_nhwc: 2-D convolution on the tensor cores with NHWC half activations (fp16 or bf16 in,
// the same type out), the layout the GPU's fast convolutions use. Next to conv2d_tc (NCHW float32
// activations, rounded as they are staged), this kernel reads each activation as 2 bytes, gathers
// 8 channels per 16-byte cp.async, and writes its output in the operand type, so a network that
// runs on it keeps its activations in half end to end (nn/exec_cuda.cpp's NHWC mode).
//
// GEMM view: M = batch * out_h * out_w (one row per output pixel), N = out_channels, K = k * k * C
// in (ky, kx, c) order, so that a row of the im2col matrix is k * k runs of C contiguous channels.
// A (activations) and B (the weights, packed once by conv2d_nhwc_pack_weights as [N][K], K
// contiguous) are both K-contiguous, which is what ldmatrix (non-transposed) and mma.m16n8k16
// .row.col take; the accumulator's row is a pixel and its column pair two adjacent channels, so
// the epilogue stores channel pairs straight into NHWC.
//
// A tensor here is [batch][height][width][ldc] 16-bit elements: a pixel's channels contiguous,
// `ldc` elements from one pixel to the next (the tensor's channel count; larger when the conv
// reads or writes a channel slice of a wider tensor). Pointers point at the slice's first channel.
// Requirements (conv2d_nhwc_unsupported says which one fails): in_channels, out_channels and every
// ldc multiples of 8, the input, output and residual 16-byte aligned (slices start at channel
// offsets that are multiples of 8); no pre-activation (a cp.async lands in shared memory
// untouched). A 3-channel image is padded to 8 channels by nchw_to_nhwc16 (kernels/nhwc.h) and its
// weights by the packer.
// Without DICE_HAVE_CUDA this header declares the host-side packing only.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/precision.h"

namespace dice {

// The block tile of conv2d_nhwc, and the padding of its packed weights.
struct Conv2dNhwcTile {
  static constexpr int kM = 128;   // output pixels per block
  static constexpr int kN = 128;   // output channels per block (64 when out_channels <= 64)
  static constexpr int kK = 32;    // K per pipeline stage
  static constexpr int kStages = 3;
};

// What a conv2d_nhwc call computes: `p` gives the sizes (p.in_channels is the channel count the
// kernel reads, a multiple of 8; p.in/out_batch_stride must be 0) and the ldcs the pixel strides
// (0: the channel count of that tensor).
struct NhwcConv {
  Conv2dParams p;
  int64_t in_ldc = 0, out_ldc = 0, residual_ldc = 0;
  int64_t in_pitch() const { return in_ldc ? in_ldc : p.in_channels; }
  int64_t out_pitch() const { return out_ldc ? out_ldc : p.out_channels; }
  int64_t residual_pitch() const { return residual_ldc ? residual_ldc : p.out_channels; }
};

// The epilogue, per output channel in float32: y = acc + bias; y = y * out_scale + out_shift;
// y += residual (16-bit, same type as the output); relu; then rounded to the output type.
struct NhwcFusion {
  const float* bias = nullptr;
  const float *out_scale = nullptr, *out_shift = nullptr;
  const uint16_t* residual = nullptr;
  bool relu = false;
};

// Bytes of the packed weights for `c` at fp16/bf16.
size_t conv2d_nhwc_packed_bytes(const Conv2dParams& p);
// Packs PyTorch-layout weights [O][real_in_channels][k][k] (BN already folded) into [Np][Kp]
// 16-bit operands: row o, column (ky * k + kx) * p.in_channels + c, zero for c >= real_in_channels
// (the padding channels of an image) and in the padding up to Np = round_up(O, 128) rows and
// Kp = round_up(k * k * p.in_channels, 32) columns. real_in_channels <= p.in_channels.
std::vector<uint16_t> conv2d_nhwc_pack_weights(const Conv2dParams& p, Precision precision,
                                               const float* weight, int64_t real_in_channels);

}  // namespace dice

#ifdef DICE_HAVE_CUDA
#include <cuda_runtime.h>

namespace dice {

// Empty when conv2d_nhwc can run `c` with fusion `f` at `precision`; otherwise why not (one line).
// The pointer alignments are checked by conv2d_nhwc itself.
std::string conv2d_nhwc_unsupported(const NhwcConv& c, const NhwcFusion& f, Precision precision);

// Which tensor-core mainloop conv2d_nhwc runs (DICE_NHWC_MMA=mma|wgmma|wgmma-ws sets it for the
// process):
//   kMma      mma.sync fed by ldmatrix (conv2d_nhwc.cu), sm_80 and up: the default
//   kWgmma    Hopper's wgmma reading the stages from shared memory, one warpgroup loading and
//             multiplying (conv2d_nhwc_wgmma.cu)
//   kWgmmaWs  the same warp-specialised: a producer warpgroup loads, two consumers multiply
// The wgmma ones need a compute capability 9.0 GPU and a build with sm_90a code
// (CMAKE_CUDA_ARCHITECTURES with 90a and without plain 90, the default "80;90a"). Opt-in until a
// GPU run has checked them: they have run only on the emulator so far.
enum class NhwcMainloop { kMma = 0, kWgmma = 1, kWgmmaWs = 2 };
NhwcMainloop nhwc_mainloop();
NhwcMainloop set_nhwc_mainloop(NhwcMainloop m);  // returns the previous setting
NhwcMainloop parse_nhwc_mainloop(const char* name, const char* what);  // mma, wgmma, wgmma-ws
const char* nhwc_mainloop_name(NhwcMainloop m);
// Sets the mainloop for its lifetime and restores the previous one (tests, benchmarks).
class ScopedNhwcMainloop {
 public:
  explicit ScopedNhwcMainloop(NhwcMainloop m) : old_(set_nhwc_mainloop(m)) {}
  ~ScopedNhwcMainloop() { set_nhwc_mainloop(old_); }
  ScopedNhwcMainloop(const ScopedNhwcMainloop&) = delete;
  ScopedNhwcMainloop& operator=(const ScopedNhwcMainloop&) = delete;

 private:
  NhwcMainloop old_;
};
// Empty when the wgmma mainloop can run on the current device; otherwise why not (one line).
std::string nhwc_wgmma_unavailable();

// out = conv(in, packed weights) with `f`'s epilogue; device pointers, 16-bit elements of
// `precision` (fp16 or bf16), on the mainloop nhwc_mainloop() names. Throws dice::Error with
// conv2d_nhwc_unsupported's message (or why wgmma cannot run here).
void conv2d_nhwc(const NhwcConv& c, Precision precision, const uint16_t* in,
                 const uint16_t* packed_weight, uint16_t* out, const NhwcFusion& f = {},
                 cudaStream_t stream = nullptr);

}  // namespace dice

#endif  // DICE_HAVE_CUDA
