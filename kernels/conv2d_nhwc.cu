// conv2d_nhwc: the tensor-core implicit GEMM on NHWC half activations (see conv2d_nhwc.h for the
// GEMM view and the layout). The pieces, each one an sm_80 idiom:
//
// Tiles: a block of 128 threads (4 warps, 2 x 2) computes 128 pixels x kBN channels (kBN = 128, or
// 64 for the 64-channel layers); a warp owns 64 x kBN/2, i.e. 4 x kBN/16 mma tiles of 16 x 8 and
// that many x 4 float accumulators per thread. K advances 32 at a time.
// Loads: a 3-stage cp.async pipeline. A stage is 128 rows of A and kBN rows of B, 32 K-elements
// (64 bytes = four 16-byte chunks) per row; each thread copies 4 A chunks and kBN/32 B chunks per
// stage. An A chunk is 8 consecutive channels of one input pixel at one (ky, kx): one predicate
// per (pixel, ky, kx), and the border, the K tail and the rows past the last pixel are zero-filled
// by cp.async itself (src-size 0, nothing read). Stage s + 2 is in flight while stage s is used.
// Shared memory: rows of four 16-byte chunks stored at chunk ^ ((row >> 1) & 3), so the eight
// rows an ldmatrix phase reads (one chunk each) fall in eight different 16-byte bank groups, and
// the cp.async writes of a warp spread the same way.
// Fragments: ldmatrix.x4 gives an A fragment of m16n8k16 (4 matrices: rows 0-7 / 8-15 x K 0-7 /
// 8-15, in kernels/mma_fragments.h's register order) or two B fragments (channels 0-7 and 8-15
// of a 16-channel pair, K 0-7 and 8-15 each).
// Epilogue: bias and optional scale/shift in float32 into a warp-private tile of shared memory
// (the pipeline's, reused), then per 16-byte chunk of 8 channels of one pixel the 16-bit residual
// and ReLU, rounded once to the operand type and stored as one 16-byte word: a row's 8 chunks
// come from 8 adjacent lanes, so the stores are 128-byte coalesced.
// Grid: 1-D, the channel tiles fastest, so the blocks that read the same pixels run together and
// the input comes from DRAM about once.
#include <climits>
#include <sstream>

#include "gpu/cuda_check.h"
#include "gpu/cuda_launch.h"
#include "gpu/half16.h"
#include "gpu/ptx.h"
#include "kernels/conv2d_nhwc.h"

namespace dice {
namespace {

using Tile = Conv2dNhwcTile;
constexpr int kThreads = 128;
constexpr int kChunks = Tile::kK / 8;  // 16-byte chunks per shared row: 4
static_assert(kChunks == 4, "the swizzle below assumes four chunks per row");
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

template <class Op, int kBN, int KS>
__global__ void __launch_bounds__(kThreads)
    conv2d_nhwc_kernel(NhwcShape s, const uint16_t* __restrict__ in,
                       const uint16_t* __restrict__ wp, uint16_t* out, NhwcFusion f) {
  constexpr int kWarpM = Tile::kM / 2, kWarpN = kBN / 2;  // 2 x 2 warps
  constexpr int kMi = kWarpM / 16, kNj = kWarpN / 8;       // mma tiles per warp
  constexpr int kAPer = Tile::kM * kChunks / kThreads;     // A chunks per thread per stage: 4
  constexpr int kBPer = kBN * kChunks / kThreads;          // B chunks per thread per stage: 4 or 2
  constexpr int kRowsPerPass = kThreads / kChunks;         // 32
  static_assert(kNj % 2 == 0, "B fragments come in pairs from one ldmatrix.x4");
  // One array: the pipeline's A and B stages, then the epilogue's staging tiles.
  DICE_SHARED(uint4, smem, [Tile::kStages * (Tile::kM + kBN) * kChunks]);
  uint4* const As = smem;
  uint4* const Bs = smem + Tile::kStages * Tile::kM * kChunks;

  const int tid = static_cast<int>(threadIdx.x);
  const int lane = tid % 32, warp = tid / 32;
  const int wm = (warp % 2) * kWarpM, wn = (warp / 2) * kWarpN;
  const int n_tiles = (s.O + kBN - 1) / kBN;
  const int n0 = static_cast<int>(blockIdx.x % static_cast<unsigned>(n_tiles)) * kBN;
  const int m0 = static_cast<int>(blockIdx.x / static_cast<unsigned>(n_tiles)) * Tile::kM;
  const int ks = KS > 0 ? KS : s.ks;

  // Loader state. Thread tid copies chunk column cc of rows tid / 4 + 32 * i.
  const int cc = tid % kChunks, row0 = tid / kChunks;
  int64_t a_pix[kAPer];  // element offset of the pixel's (iy0, ix0) corner, or -1 past the end
  int a_iy[kAPer], a_ix[kAPer];
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
      a_pix[i] = static_cast<int64_t>(img) * s.H * s.W;  // pixel index of the image's origin
    }
  }
  const uint16_t* b_src = wp + static_cast<int64_t>(n0 + row0) * s.Kp + cc * 8;

  auto load_stage = [&](int stage, int kt) {
    const int q = kt * kChunks + cc;  // this thread's chunk of K
    int c8 = q, ky = 0, kx = 0;
    if (KS != 1) {
      const int r = q / s.C8;
      c8 = q - r * s.C8;
      ky = r / ks;
      kx = r - ky * ks;
    }
    const bool q_ok = q < s.Kc;
    uint4* as = As + stage * Tile::kM * kChunks;
#pragma unroll
    for (int i = 0; i < kAPer; ++i) {
      const int iy = a_iy[i] + ky, ix = a_ix[i] + kx;
      const bool ok = q_ok && a_pix[i] >= 0 && iy >= 0 && iy < s.H && ix >= 0 && ix < s.W;
      const uint16_t* src =
          ok ? in + (a_pix[i] + static_cast<int64_t>(iy) * s.W + ix) * s.in_ldc + c8 * 8 : in;
      ptx::cp_async_cg(as + swizzle(row0 + i * kRowsPerPass, cc), src, ok ? 16 : 0);
    }
    uint4* bs = Bs + stage * kBN * kChunks;
#pragma unroll
    for (int i = 0; i < kBPer; ++i)
      ptx::cp_async_cg(bs + swizzle(row0 + i * kRowsPerPass, cc),
                       b_src + static_cast<int64_t>(i * kRowsPerPass) * s.Kp + kt * Tile::kK);
  };

  float acc[kMi][kNj][4];
#pragma unroll
  for (int i = 0; i < kMi; ++i)
#pragma unroll
    for (int j = 0; j < kNj; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;

  // Prologue: stages 0 .. kStages - 2 in flight (a group is committed even when empty, so that
  // "all but the newest kStages - 2 groups" always means "up to stage kt").
#pragma unroll
  for (int st = 0; st < Tile::kStages - 1; ++st) {
    if (st < s.Kt) load_stage(st, st);
    ptx::cp_async_commit_group();
  }

  // ldmatrix row addresses: lane l gives row l % 8 of matrix l / 8.
  const int a_row = wm + (lane & 7) + ((lane >> 3) & 1) * 8, a_chunk = lane >> 4;
  const int b_row = wn + (lane & 7) + (lane >> 4) * 8, b_chunk = (lane >> 3) & 1;

  for (int kt = 0; kt < s.Kt; ++kt) {
    ptx::cp_async_wait_group<Tile::kStages - 2>();  // this thread's copies of stage kt landed
    __syncthreads();  // everyone's did, and everyone is done with stage kt - 1
    {
      const int next = kt + Tile::kStages - 1;  // into the buffer stage kt - 1 used
      if (next < s.Kt) load_stage(next % Tile::kStages, next);
      ptx::cp_async_commit_group();
    }
    const uint4* as = As + (kt % Tile::kStages) * Tile::kM * kChunks;
    const uint4* bs = Bs + (kt % Tile::kStages) * kBN * kChunks;
#pragma unroll
    for (int kk = 0; kk < Tile::kK / 16; ++kk) {
      uint32_t a[kMi][4], b[kNj][2];
#pragma unroll
      for (int i = 0; i < kMi; ++i)
        ptx::ldmatrix<4>(a[i], as + swizzle(a_row + i * 16, kk * 2 + a_chunk));
#pragma unroll
      for (int j = 0; j < kNj; j += 2) {
        uint32_t r[4];
        ptx::ldmatrix<4>(r, bs + swizzle(b_row + j * 8, kk * 2 + b_chunk));
        b[j][0] = r[0], b[j][1] = r[1], b[j + 1][0] = r[2], b[j + 1][1] = r[3];
      }
#pragma unroll
      for (int i = 0; i < kMi; ++i)
#pragma unroll
        for (int j = 0; j < kNj; ++j) Op::mma(acc[i][j], a[i], b[j]);
    }
  }
  ptx::cp_async_wait_all();  // nothing is left in flight when the block exits (empty groups only)
  __syncthreads();           // every warp is done with As / Bs: the epilogue reuses the memory

  // Epilogue, per warp, in two passes of 32 of its 64 rows: the accumulators plus bias and
  // scale/shift go as float pairs into a warp-private tile of shared memory (rows kPitch floats
  // apart: the float2 writes of a half-warp hit 32 different banks); then each lane takes 16-byte
  // output chunks, 8 channels of one pixel, adds the 16-bit residual and ReLU, rounds once to the
  // operand type and stores 16 bytes, 8 lanes covering a row's 128 contiguous bytes.
  // Accumulator e of tile (i, j) is row 16 i + lane / 4 (+ 8 for e >= 2) of the warp's tile,
  // channel 8 j + 2 (lane % 4) (+ 1 for odd e).
  constexpr int kPitch = kWarpN + 8;
  constexpr int kCpr = kWarpN / 8;  // 16-byte chunks per row
  static_assert(4 * 32 * kPitch * 4 <= sizeof(uint4) * Tile::kStages * (Tile::kM + kBN) * kChunks,
                "the staging tiles fit the pipeline's shared memory");
  float* const stage = reinterpret_cast<float*>(smem) + warp * 32 * kPitch;
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int pass = 0; pass < 2; ++pass) {
#pragma unroll
    for (int j = 0; j < kNj; ++j) {
      const int ch = n0 + wn + j * 8 + 2 * t;
      float b0 = 0.0f, b1 = 0.0f, sc0 = 1.0f, sc1 = 1.0f, sh0 = 0.0f, sh1 = 0.0f;
      if (ch < s.O) {  // O is a multiple of 8: the pair is wholly in or out
        if (f.bias) b0 = __ldg(f.bias + ch), b1 = __ldg(f.bias + ch + 1);
        if (f.out_scale) {
          sc0 = __ldg(f.out_scale + ch), sc1 = __ldg(f.out_scale + ch + 1);
          sh0 = __ldg(f.out_shift + ch), sh1 = __ldg(f.out_shift + ch + 1);
        }
      }
#pragma unroll
      for (int ii = 0; ii < 2; ++ii)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int i = pass * 2 + ii;
          float y0 = acc[i][j][2 * h] + b0, y1 = acc[i][j][2 * h + 1] + b1;
          if (f.out_scale) y0 = y0 * sc0 + sh0, y1 = y1 * sc1 + sh1;
          *reinterpret_cast<float2*>(stage + (ii * 16 + g + h * 8) * kPitch + j * 8 + 2 * t) =
              make_float2(y0, y1);
        }
    }
    __syncwarp();  // the warp's tile is complete
#pragma unroll
    for (int it = 0; it < kCpr; ++it) {
      const int idx = it * 32 + lane, r = idx / kCpr, c = idx % kCpr;
      const int m = m0 + wm + pass * 32 + r, ch = n0 + wn + c * 8;
      if (m >= s.N || ch >= s.O) continue;
      const float4 v0 = *reinterpret_cast<const float4*>(stage + r * kPitch + c * 8);
      const float4 v1 = *reinterpret_cast<const float4*>(stage + r * kPitch + c * 8 + 4);
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
    __syncwarp();  // everyone has read the tile before the next pass rewrites it
  }
}

template <class Op, int kBN>
void launch_tile(const NhwcShape& s, const uint16_t* in, const uint16_t* w, uint16_t* out,
                 const NhwcFusion& f, cudaStream_t stream) {
  const int64_t blocks =
      static_cast<int64_t>((s.N + Tile::kM - 1) / Tile::kM) * ((s.O + kBN - 1) / kBN);
  const dim3 grid(static_cast<unsigned>(blocks)), block(kThreads);
  switch (s.ks) {
    case 1: launch_kernel(conv2d_nhwc_kernel<Op, kBN, 1>, grid, block, 0, stream, s, in, w, out, f); break;
    case 3: launch_kernel(conv2d_nhwc_kernel<Op, kBN, 3>, grid, block, 0, stream, s, in, w, out, f); break;
    default: launch_kernel(conv2d_nhwc_kernel<Op, kBN, 0>, grid, block, 0, stream, s, in, w, out, f); break;
  }
  DICE_CUDA_CHECK_LAUNCH();
}

template <class Op>
void launch_op(const NhwcShape& s, const uint16_t* in, const uint16_t* w, uint16_t* out,
               const NhwcFusion& f, cudaStream_t stream) {
  if (s.O <= 64)
    launch_tile<Op, 64>(s, in, w, out, f, stream);
  else
    launch_tile<Op, Tile::kN>(s, in, w, out, f, stream);
}

}  // namespace

std::string conv2d_nhwc_unsupported(const NhwcConv& c, const NhwcFusion& f, Precision precision) {
  const Conv2dParams& p = c.p;
  std::ostringstream why;
  if (precision != Precision::kFp16 && precision != Precision::kBf16)
    why << "precision " << precision_name(precision) << " has no NHWC half path (fp16, bf16)";
  else if (p.batch < 0 || p.in_channels <= 0 || p.height <= 0 || p.width <= 0 ||
           p.out_channels <= 0 || p.kernel <= 0 || p.stride <= 0 || p.pad < 0)
    why << "sizes must be positive (batch >= 0, pad >= 0)";
  else if (p.out_height() <= 0 || p.out_width() <= 0)
    why << "kernel " << p.kernel << " does not fit a " << p.height << "x" << p.width
        << " input with pad " << p.pad;
  else if (p.in_batch_stride != 0 || p.out_batch_stride != 0)
    why << "NHWC tensors take pixel strides (ldc), not batch strides";
  else if (p.in_channels % 8 != 0 || p.out_channels % 8 != 0)
    why << "channels " << p.in_channels << " -> " << p.out_channels
        << " are not multiples of 8 (16-byte chunks)";
  else if (c.in_pitch() % 8 != 0 || c.out_pitch() % 8 != 0 || c.residual_pitch() % 8 != 0 ||
           c.in_pitch() < p.in_channels || c.out_pitch() < p.out_channels ||
           c.residual_pitch() < p.out_channels)
    why << "pixel strides (ldc) must be multiples of 8 and at least the channel count";
  else if ((f.out_scale == nullptr) != (f.out_shift == nullptr))
    why << "fusion scale and shift must be given together";
  else if (p.batch * p.out_height() * p.out_width() >= INT_MAX - Tile::kM ||
           p.kernel * p.kernel * p.in_channels >= INT_MAX - Tile::kK ||
           p.out_channels >= INT_MAX - Tile::kN || p.stride * p.out_height() + p.kernel >= INT_MAX ||
           p.stride * p.out_width() + p.kernel >= INT_MAX ||
           p.batch * p.height * p.width >= INT_MAX)
    why << "the problem exceeds the kernel's 32-bit pixel/K indexing; split the batch";
  if (!why.str().empty()) return "conv2d_nhwc: " + why.str();
  return {};
}

void conv2d_nhwc(const NhwcConv& c, Precision precision, const uint16_t* in,
                 const uint16_t* packed_weight, uint16_t* out, const NhwcFusion& f,
                 cudaStream_t stream) {
  const std::string why = conv2d_nhwc_unsupported(c, f, precision);
  if (!why.empty()) throw Error(why);
  if (c.p.batch == 0) return;
  if (reinterpret_cast<uintptr_t>(in) % 16 != 0 || reinterpret_cast<uintptr_t>(packed_weight) % 16 != 0)
    throw_error("conv2d_nhwc: the input and the packed weights must be 16-byte aligned");
  if (reinterpret_cast<uintptr_t>(out) % 16 != 0 || reinterpret_cast<uintptr_t>(f.residual) % 16 != 0)
    throw_error("conv2d_nhwc: the output and the residual must be 16-byte aligned");
  const Conv2dParams& p = c.p;
  NhwcShape s;
  s.C8 = static_cast<int>(p.in_channels / 8);
  s.H = static_cast<int>(p.height), s.W = static_cast<int>(p.width);
  s.OH = static_cast<int>(p.out_height()), s.OW = static_cast<int>(p.out_width());
  s.ks = static_cast<int>(p.kernel), s.stride = static_cast<int>(p.stride);
  s.pad = static_cast<int>(p.pad);
  s.O = static_cast<int>(p.out_channels);
  const int64_t K = p.kernel * p.kernel * p.in_channels;
  s.Kc = static_cast<int>(K / 8);
  s.Kp = static_cast<int>((K + Tile::kK - 1) / Tile::kK * Tile::kK);
  s.Kt = s.Kp / Tile::kK;
  s.N = static_cast<int>(p.batch * p.out_height() * p.out_width());
  s.in_ldc = c.in_pitch(), s.out_ldc = c.out_pitch(), s.res_ldc = c.residual_pitch();
  if (precision == Precision::kBf16)
    launch_op<Op16<true>>(s, in, packed_weight, out, f, stream);
  else
    launch_op<Op16<false>>(s, in, packed_weight, out, f, stream);
}

}  // namespace dice
