// conv2d_nhwc: the tensor-core implicit GEMM on NHWC half activations (see conv2d_nhwc.h for the
// GEMM view and the layout), and the host side of both of its mainloops. This file holds the
// mma.sync one (sm_80 and up); conv2d_nhwc_wgmma.cu the sm_90a one; conv2d_nhwc_device.h what
// they share: the 3-stage cp.async loader and the swizzled stage layout, the epilogue's store.
//
// Tiles: a block of 128 threads (4 warps, 2 x 2) computes 128 pixels x kBN channels (kBN = 128, or
// 64 for the 64-channel layers); a warp owns 64 x kBN/2, i.e. 4 x kBN/16 mma tiles of 16 x 8 and
// that many x 4 float accumulators per thread. K advances 32 at a time; stage s + 2 is in flight
// while stage s is used.
// Fragments: ldmatrix.x4 gives an A fragment of m16n8k16 (4 matrices: rows 0-7 / 8-15 x K 0-7 /
// 8-15, in kernels/mma_fragments.h's register order) or two B fragments (channels 0-7 and 8-15
// of a 16-channel pair, K 0-7 and 8-15 each); the stage's swizzle puts the eight rows an
// ldmatrix phase reads in eight different 16-byte bank groups.
// Epilogue: bias and optional scale/shift in float32 into a warp-private tile of shared memory
// (the pipeline's, reused), then per 16-byte chunk of 8 channels of one pixel the 16-bit residual
// and ReLU, rounded once to the operand type and stored as one 16-byte word: a row's 8 chunks
// come from 8 adjacent lanes, so the stores are 128-byte coalesced.
// Grid: 1-D, the channel tiles fastest, so the blocks that read the same pixels run together and
// the input comes from DRAM about once.
#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "gpu/cuda_check.h"
#include "gpu/cuda_launch.h"
#include "kernels/conv2d_nhwc_device.h"

namespace dice {
namespace {

using namespace nhwc;

std::atomic<int> g_mainloop{-1};  // -1: not read from DICE_NHWC_MMA yet

template <class Op, int kBN, int KS>
__global__ void __launch_bounds__(kThreads)
    conv2d_nhwc_kernel(NhwcShape s, const uint16_t* __restrict__ in,
                       const uint16_t* __restrict__ wp, uint16_t* out, NhwcFusion f) {
  constexpr int kWarpM = Tile::kM / 2, kWarpN = kBN / 2;  // 2 x 2 warps
  constexpr int kMi = kWarpM / 16, kNj = kWarpN / 8;       // mma tiles per warp
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
  const Loader<kBN, KS> loader(s, in, wp, tid, m0, n0);
  auto load_stage = [&](int stage, int kt) {
    loader.load(As + stage * Tile::kM * kChunks, Bs + stage * kBN * kChunks, kt);
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
  // apart: the float2 writes of a half-warp hit 32 different banks); then store_staged adds the
  // residual and ReLU and stores 16-byte chunks. Accumulator e of tile (i, j) is row 16 i +
  // lane / 4 (+ 8 for e >= 2) of the warp's tile, channel 8 j + 2 (lane % 4) (+ 1 for odd e).
  constexpr int kPitch = kWarpN + 8;
  static_assert(4 * 32 * kPitch * 4 <= sizeof(uint4) * Tile::kStages * (Tile::kM + kBN) * kChunks,
                "the staging tiles fit the pipeline's shared memory");
  float* const stage = reinterpret_cast<float*>(smem) + warp * 32 * kPitch;
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int pass = 0; pass < 2; ++pass) {
#pragma unroll
    for (int j = 0; j < kNj; ++j) {
      const PairAffine aff(f, n0 + wn + j * 8 + 2 * t, s.O);
#pragma unroll
      for (int ii = 0; ii < 2; ++ii)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int i = pass * 2 + ii;
          aff.stage(stage, kPitch, ii * 16 + g + h * 8, j * 8 + 2 * t, acc[i][j][2 * h],
                    acc[i][j][2 * h + 1], f.out_scale != nullptr);
        }
    }
    __syncwarp();  // the warp's tile is complete
    store_staged<Op, 32, kWarpN>(stage, lane, m0 + wm + pass * 32, n0 + wn, s, out, f);
    __syncwarp();  // everyone has read the tile before the next pass rewrites it
  }
}

template <class Op, int kBN, int KS>
struct MmaKernel {
  static constexpr int kBlockThreads = kThreads;
  static_assert(kBlockThreads % 128 == 0, "whole warpgroups");
  static constexpr auto kernel = conv2d_nhwc_kernel<Op, kBN, KS>;
};

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
  const NhwcMainloop loop = nhwc_mainloop();
  if (loop != NhwcMainloop::kMma) {
    const std::string no = nhwc_wgmma_unavailable();
    if (!no.empty()) throw_error("conv2d_nhwc: DICE_NHWC_MMA=", nhwc_mainloop_name(loop), ": ", no);
    launch_wgmma(s, precision == Precision::kBf16, loop == NhwcMainloop::kWgmmaWs, in,
                 packed_weight, out, f, stream);
  } else {
    launch<MmaKernel>(s, precision == Precision::kBf16, in, packed_weight, out, f, stream);
  }
}

NhwcMainloop parse_nhwc_mainloop(const char* name, const char* what) {
  if (!std::strcmp(name, "mma")) return NhwcMainloop::kMma;
  if (!std::strcmp(name, "wgmma")) return NhwcMainloop::kWgmma;
  if (!std::strcmp(name, "wgmma-ws")) return NhwcMainloop::kWgmmaWs;
  throw_error(what, "='", name, "' is not one of mma, wgmma, wgmma-ws");
}

const char* nhwc_mainloop_name(NhwcMainloop m) {
  return m == NhwcMainloop::kWgmma ? "wgmma" : m == NhwcMainloop::kWgmmaWs ? "wgmma-ws" : "mma";
}

NhwcMainloop nhwc_mainloop() {
  int m = g_mainloop.load(std::memory_order_relaxed);
  if (m < 0) {
    const char* e = std::getenv("DICE_NHWC_MMA");
    m = static_cast<int>(e && *e ? parse_nhwc_mainloop(e, "DICE_NHWC_MMA") : NhwcMainloop::kMma);
    g_mainloop.store(m, std::memory_order_relaxed);
  }
  return static_cast<NhwcMainloop>(m);
}

NhwcMainloop set_nhwc_mainloop(NhwcMainloop m) {
  const NhwcMainloop old = nhwc_mainloop();
  g_mainloop.store(static_cast<int>(m), std::memory_order_relaxed);
  return old;
}

std::string nhwc_wgmma_unavailable() {
#ifdef DICE_CUDA_EMU
  return {};  // the emulator implements wgmma (cuda_emu/wgmma.cpp)
#else
#ifndef DICE_CUDA_SM90A
  return "this build has no sm_90a code (configure with CMAKE_CUDA_ARCHITECTURES \"80;90a\")";
#else
  int device = 0, major = 0, minor = 0;
  DICE_CUDA_CHECK(cudaGetDevice(&device));
  DICE_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  DICE_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
  if (major != 9 || minor != 0)
    return "compute capability " + std::to_string(major) + "." + std::to_string(minor) +
           " (wgmma needs 9.0)";
  return {};
#endif
#endif
}

}  // namespace dice
