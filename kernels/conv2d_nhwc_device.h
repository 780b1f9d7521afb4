// Device pieces shared by conv2d_nhwc's mainloops (conv2d_nhwc.cu: mma.sync fed by ldmatrix,
// sm_80 and up; conv2d_nhwc_wgmma.cu: wgmma from shared memory, sm_90a, one warpgroup or warp-
// specialised): the problem shape, the shared-memory layout of a pipeline stage, the cp.async
// loader that fills it, the 16-bit conversions, the epilogue's store of a staged float tile, and
// the host-side launcher. Internal to kernels/.
//
// A stage holds 128 rows of A (pixels) and kBN rows of B (output channels), 32 K-elements each:
// rows of four 16-byte chunks, chunk c of row r stored at c ^ ((r >> 1) & 3). Eight consecutive
// rows (512 bytes) form one atom of the PTX ISA's 64-byte swizzle K-major layout, so the same
// stage feeds ldmatrix without bank conflicts and wgmma directly (given 512-byte-aligned stages).
// Loads: each thread copies 4 A chunks and kBN / 32 B chunks per stage with cp.async.cg 16 bytes;
// an A chunk is 8 consecutive channels of one input pixel at one (ky, kx): one predicate per
// (pixel, ky, kx), and the border, the K tail and the rows past the last pixel are zero-filled by
// cp.async itself (src-size 0, nothing read).
#pragma once
#include <cstdint>

#include "gpu/cuda_check.h"
#include "gpu/cuda_launch.h"
#include "gpu/half16.h"
#include "gpu/ptx.h"
#include "kernels/conv2d_nhwc.h"

namespace dice::nhwc {

using Tile = Conv2dNhwcTile;
constexpr int kThreads = 128;
constexpr int kChunks = Tile::kK / 8;  // 16-byte chunks per shared row: 4
static_assert(kChunks == 4, "the swizzle assumes four chunks (64 bytes) per row");
static_assert(Tile::kM * kChunks % kThreads == 0, "A chunks split evenly");

struct NhwcShape {
  int C8;            // input channels / 8
  int H, W, OH, OW;  // input and output sides
  int ks, stride, pad;
  int O;             // output channels
  int Kc;            // k * k * C / 8: 16-byte chunks of K
  int Kt;            // stages of 32 along K (Kp / 32)
  int Kp;            // packed row length in elements
  int N;             // batch * OH * OW pixels
  int64_t in_ldc, out_ldc, res_ldc;
};

// Position of chunk `chunk` of shared row `row`, in 16-byte units.
__device__ __forceinline__ int swizzle(int row, int chunk) {
  return row * kChunks + (chunk ^ ((row >> 1) & 3));
}

template <bool kBf16>
struct Op16 {
  static constexpr bool kIsBf16 = kBf16;
  static __device__ __forceinline__ float to_float(uint16_t b) { return half16::to_float<kBf16>(b); }
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    return half16::pack2<kBf16>(lo, hi);
  }
  static __device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4],
                                             const uint32_t (&b)[2]) {
    if constexpr (kBf16)
      ptx::mma_m16n8k16_bf16(d, a, b);
    else
      ptx::mma_m16n8k16_f16(d, a, b);
  }
};

// One thread's share of filling stages: chunk column tid % 4 of rows tid / 4 + 32 i.
template <int kBN, int KS>
struct Loader {
  static constexpr int kAPer = Tile::kM * kChunks / kThreads;  // A chunks per thread per stage: 4
  static constexpr int kBPer = kBN * kChunks / kThreads;       // B chunks: 4 or 2
  static constexpr int kRowsPerPass = kThreads / kChunks;      // 32
  const NhwcShape& s;
  const uint16_t* in;
  const uint16_t* b_src;
  int cc, row0, ks;
  int64_t a_pix[kAPer];  // pixel index of the image's origin, or -1 past the last pixel
  int a_iy[kAPer], a_ix[kAPer];

  __device__ __forceinline__ Loader(const NhwcShape& shape, const uint16_t* input, const uint16_t* wp, int tid,
                    int m0, int n0)
      : s(shape), in(input) {
    cc = tid % kChunks, row0 = tid / kChunks;
    ks = KS > 0 ? KS : s.ks;
#pragma unroll
    for (int i = 0; i < kAPer; ++i) {
      const int m = m0 + row0 + i * kRowsPerPass;
      a_pix[i] = -1, a_iy[i] = 0, a_ix[i] = 0;
      if (m < s.N) {
        const int ohw = s.OH * s.OW;
        const int img = m / ohw, pix = m - img * ohw;
        const int oy = pix / s.OW, ox = pix - oy * s.OW;
        a_iy[i] = oy * s.stride - s.pad;
        a_ix[i] = ox * s.stride - s.pad;
        a_pix[i] = static_cast<int64_t>(img) * s.H * s.W;
      }
    }
    b_src = wp + static_cast<int64_t>(n0 + row0) * s.Kp + cc * 8;
  }

  // Issues the cp.async of K stage kt into stage buffers `as` (kM rows) and `bs` (kBN rows).
  __device__ __forceinline__ void load(uint4* as, uint4* bs, int kt) const {
    const int q = kt * kChunks + cc;  // this thread's chunk of K
    int c8 = q, ky = 0, kx = 0;
    if (KS != 1) {
      const int r = q / s.C8;
      c8 = q - r * s.C8;
      ky = r / ks;
      kx = r - ky * ks;
    }
    const bool q_ok = q < s.Kc;
#pragma unroll
    for (int i = 0; i < kAPer; ++i) {
      const int iy = a_iy[i] + ky, ix = a_ix[i] + kx;
      const bool ok = q_ok && a_pix[i] >= 0 && iy >= 0 && iy < s.H && ix >= 0 && ix < s.W;
      const uint16_t* src =
          ok ? in + (a_pix[i] + static_cast<int64_t>(iy) * s.W + ix) * s.in_ldc + c8 * 8 : in;
      ptx::cp_async_cg(as + swizzle(row0 + i * kRowsPerPass, cc), src, ok ? 16 : 0);
    }
#pragma unroll
    for (int i = 0; i < kBPer; ++i)
      ptx::cp_async_cg(bs + swizzle(row0 + i * kRowsPerPass, cc),
                       b_src + static_cast<int64_t>(i * kRowsPerPass) * s.Kp + kt * Tile::kK);
  }
};

// Bias and scale/shift of output channels ch, ch + 1 (identity past O: O is a multiple of 8, so a
// pair is wholly in or out).
struct PairAffine {
  float b0 = 0.0f, b1 = 0.0f, sc0 = 1.0f, sc1 = 1.0f, sh0 = 0.0f, sh1 = 0.0f;
  __device__ __forceinline__ PairAffine(const NhwcFusion& f, int ch, int O) {
    if (ch >= O) return;
    if (f.bias) b0 = __ldg(f.bias + ch), b1 = __ldg(f.bias + ch + 1);
    if (f.out_scale) {
      sc0 = __ldg(f.out_scale + ch), sc1 = __ldg(f.out_scale + ch + 1);
      sh0 = __ldg(f.out_shift + ch), sh1 = __ldg(f.out_shift + ch + 1);
    }
  }
  // Stages (acc0, acc1) + bias, times scale plus shift, at row r, column c of a warp's tile.
  __device__ __forceinline__ void stage(float* tile, int pitch, int r, int c, float acc0, float acc1,
                                        bool scaled) const {
    float y0 = acc0 + b0, y1 = acc1 + b1;
    if (scaled) y0 = y0 * sc0 + sh0, y1 = y1 * sc1 + sh1;
    *reinterpret_cast<float2*>(tile + r * pitch + c) = make_float2(y0, y1);
  }
};

// The second half of the epilogue: a warp's staged kRows x kCols float tile (rows kCols + 8 floats
// apart; row r is pixel m_first + r, column c channel ch_first + c) plus the 16-bit residual,
// ReLU, rounded once to the operand type, stored as 16-byte chunks of 8 channels: a row's chunks
// come from adjacent lanes, so the stores are coalesced. Called by all 32 lanes after __syncwarp.
template <class Op, int kRows, int kCols>
__device__ __forceinline__ void store_staged(const float* tile, int lane, int m_first, int ch_first,
                                             const NhwcShape& s, uint16_t* out,
                                             const NhwcFusion& f) {
  constexpr int kPitch = kCols + 8, kCpr = kCols / 8;  // 16-byte chunks per row
  static_assert(kRows * kCpr % 32 == 0, "whole passes of the warp");
#pragma unroll
  for (int it = 0; it < kRows * kCpr / 32; ++it) {
    const int idx = it * 32 + lane, r = idx / kCpr, c = idx % kCpr;
    const int m = m_first + r, ch = ch_first + c * 8;
    if (m >= s.N || ch >= s.O) continue;
    const float4 v0 = *reinterpret_cast<const float4*>(tile + r * kPitch + c * 8);
    const float4 v1 = *reinterpret_cast<const float4*>(tile + r * kPitch + c * 8 + 4);
    float y[8] = {v0.x, v0.y, v0.z, v0.w, v1.x, v1.y, v1.z, v1.w};
    if (f.residual) {
      const uint4 rv = *reinterpret_cast<const uint4*>(f.residual + m * s.res_ldc + ch);
      const uint32_t words[4] = {rv.x, rv.y, rv.z, rv.w};
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        y[2 * q] += Op::to_float(static_cast<uint16_t>(words[q] & 0xFFFFu));
        y[2 * q + 1] += Op::to_float(static_cast<uint16_t>(words[q] >> 16));
      }
    }
    if (f.relu)
#pragma unroll
      for (int q = 0; q < 8; ++q) y[q] = fmaxf(y[q], 0.0f);
    uint4 o;
    o.x = Op::pack(y[0], y[1]), o.y = Op::pack(y[2], y[3]);
    o.z = Op::pack(y[4], y[5]), o.w = Op::pack(y[6], y[7]);
    *reinterpret_cast<uint4*>(out + m * s.out_ldc + ch) = o;
  }
}

// Enqueues K<Op, kBN, KS>::kernel for `s`: one block of K::kBlockThreads per 128 pixels x kBN channels
// (kBN 64 for at most 64 output channels, else 128; the channel tiles fastest), KS 1, 3 or 0 (any
// other kernel size), Op the 16-bit type. K names a mainloop's kernel template.
template <template <class, int, int> class K, class Op, int kBN>
void launch_tile(const NhwcShape& s, const uint16_t* in, const uint16_t* w, uint16_t* out,
                 const NhwcFusion& f, cudaStream_t stream) {
  const int64_t blocks =
      static_cast<int64_t>((s.N + Tile::kM - 1) / Tile::kM) * ((s.O + kBN - 1) / kBN);
  const dim3 grid(static_cast<unsigned>(blocks)), block(K<Op, kBN, 1>::kBlockThreads);
  if (s.ks == 1)
    launch_kernel(K<Op, kBN, 1>::kernel, grid, block, 0, stream, s, in, w, out, f);
  else if (s.ks == 3)
    launch_kernel(K<Op, kBN, 3>::kernel, grid, block, 0, stream, s, in, w, out, f);
  else
    launch_kernel(K<Op, kBN, 0>::kernel, grid, block, 0, stream, s, in, w, out, f);
  DICE_CUDA_CHECK_LAUNCH();
}
template <template <class, int, int> class K>
void launch(const NhwcShape& s, bool bf16, const uint16_t* in, const uint16_t* w, uint16_t* out,
            const NhwcFusion& f, cudaStream_t stream) {
  if (bf16 && s.O <= 64) launch_tile<K, Op16<true>, 64>(s, in, w, out, f, stream);
  else if (bf16) launch_tile<K, Op16<true>, Tile::kN>(s, in, w, out, f, stream);
  else if (s.O <= 64) launch_tile<K, Op16<false>, 64>(s, in, w, out, f, stream);
  else launch_tile<K, Op16<false>, Tile::kN>(s, in, w, out, f, stream);
}

// conv2d_nhwc_wgmma.cu: enqueues an sm_90a mainloop (the caller checked that it may run):
// one warpgroup doing both (warp_specialized false) or a producer warpgroup and two consumers.
void launch_wgmma(const NhwcShape& s, bool bf16, bool warp_specialized, const uint16_t* in,
                  const uint16_t* w, uint16_t* out, const NhwcFusion& f, cudaStream_t stream);

}  // namespace dice::nhwc
