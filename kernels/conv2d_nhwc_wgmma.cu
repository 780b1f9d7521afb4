// conv2d_nhwc's sm_90a mainloops: the same implicit GEMM, tiles, stages and epilogue as the
// mma.sync one (conv2d_nhwc.cu, shared pieces in conv2d_nhwc_device.h), with the tensor-core work
// done by wgmma reading both operands straight from the swizzled stages: no ldmatrix, no operand
// registers, and the multiply of stage kt overlapping the loads of stage kt + 2 and the issue of
// the next stage's wgmma.
//
// One warpgroup (the block's 128 threads) owns the 128 x kBN tile as two m64nkBNk16 halves
// (rows 0-63 and 64-127), kBN / 2 float accumulators per half and thread. A stage's rows are the
// PTX ISA's 64-byte swizzle K-major layout (8-row atoms of 512 bytes, SBO 512), so a descriptor
// is the stage's address (the second k16 step 32 bytes in); the shared array is 1024-byte
// aligned and every stage a multiple of 512 bytes. Per K stage kt:
//   cp.async.wait_group(1)      this thread's copies of stage kt landed
//   fence.proxy.async           ... and are visible to wgmma (the async proxy)
//   __syncthreads               everyone's are
//   wgmma.fence; 4 x wgmma (2 k16 steps x 2 halves); commit
//   wgmma.wait_group(1)         stage kt - 1's wgmma are done: its buffer may be refilled
//   cp.async of stage kt + 2 into that buffer
// then wait_group(0) and the epilogue (per warp: rows 16 w .. 16 w + 15 of each half, all kBN
// channels, staged in shared memory and stored as 16-byte chunks).
// A warp-specialised variant (a producer warpgroup and two consumers, named barriers between
// them) follows the first kernel. Not done: TMA im2col loads (the loads are cp.async, as in the
// sm_80 mainloop).
#include <climits>
#include <string>

#include "gpu/cuda_check.h"
#include "gpu/cuda_launch.h"
#include "kernels/conv2d_nhwc_device.h"

namespace dice {
namespace {

using namespace nhwc;

template <class Op, int kBN, int KS>
__global__ void __launch_bounds__(kThreads)
    conv2d_nhwc_wgmma_kernel(NhwcShape s, const uint16_t* __restrict__ in,
                             const uint16_t* __restrict__ wp, uint16_t* out, NhwcFusion f) {
  constexpr int kAStage = Tile::kM * kChunks, kBStage = kBN * kChunks;  // in 16-byte units
  static_assert(kAStage * 16 % 512 == 0 && kBStage * 16 % 512 == 0, "stages are whole atoms");
  DICE_SHARED_ALIGNED(uint4, smem, [Tile::kStages * (Tile::kM + kBN) * kChunks], 1024);
  uint4* const As = smem;
  uint4* const Bs = smem + Tile::kStages * kAStage;

  const int tid = static_cast<int>(threadIdx.x);
  const int lane = tid % 32, warp = tid / 32;
  const int n_tiles = (s.O + kBN - 1) / kBN;
  const int n0 = static_cast<int>(blockIdx.x % static_cast<unsigned>(n_tiles)) * kBN;
  const int m0 = static_cast<int>(blockIdx.x / static_cast<unsigned>(n_tiles)) * Tile::kM;
  const Loader<kBN, KS> loader(s, in, wp, tid, m0, n0);

  float acc[2][kBN / 2];
#pragma unroll
  for (int h = 0; h < 2; ++h)
#pragma unroll
    for (int i = 0; i < kBN / 2; ++i) acc[h][i] = 0.0f;

#pragma unroll
  for (int st = 0; st < Tile::kStages - 1; ++st) {
    if (st < s.Kt) loader.load(As + st * kAStage, Bs + st * kBStage, st);
    ptx::cp_async_commit_group();
  }

  for (int kt = 0; kt < s.Kt; ++kt) {
    ptx::cp_async_wait_group<Tile::kStages - 2>();
    ptx::fence_proxy_async();
    __syncthreads();
    const uint4* as = As + (kt % Tile::kStages) * kAStage;
    const uint4* bs = Bs + (kt % Tile::kStages) * kBStage;
#pragma unroll
    for (int h = 0; h < 2; ++h)
#pragma unroll
      for (int i = 0; i < kBN / 2; ++i) ptx::wgmma_fence_operand(acc[h][i]);
    ptx::wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < Tile::kK / 16; ++kk) {
      const uint64_t db = ptx::wgmma_desc_k_sw64(bs + 2 * kk);
#pragma unroll
      for (int h = 0; h < 2; ++h)
        ptx::wgmma_m64k16<kBN, Op::kIsBf16>(acc[h], ptx::wgmma_desc_k_sw64(as + h * 64 * kChunks + 2 * kk),
                                            db, 1);
    }
    ptx::wgmma_commit_group();
    ptx::wgmma_wait_group<1>();  // stage kt - 1's wgmma are done
#pragma unroll
    for (int h = 0; h < 2; ++h)
#pragma unroll
      for (int i = 0; i < kBN / 2; ++i) ptx::wgmma_fence_operand(acc[h][i]);
    const int next = kt + Tile::kStages - 1;  // into the buffer stage kt - 1 used
    if (next < s.Kt)
      loader.load(As + (next % Tile::kStages) * kAStage, Bs + (next % Tile::kStages) * kBStage, next);
    ptx::cp_async_commit_group();
  }
  ptx::wgmma_wait_group<0>();
#pragma unroll
  for (int h = 0; h < 2; ++h)
#pragma unroll
    for (int i = 0; i < kBN / 2; ++i) ptx::wgmma_fence_operand(acc[h][i]);
  ptx::cp_async_wait_all();  // only empty groups are left; none may outlive the block
  __syncthreads();           // the stages are free: the epilogue reuses them

  // Epilogue, one half at a time: warp w stages its 16 rows x kBN channels (accumulator
  // 4 j + e is row 16 w + lane / 4 + 8 (e / 2), channel 8 j + 2 (lane % 4) + e % 2), then
  // store_staged writes them out.
  constexpr int kPitch = kBN + 8;
  static_assert(4 * 16 * kPitch * 4 <= sizeof(uint4) * Tile::kStages * (Tile::kM + kBN) * kChunks,
                "the staging tiles fit the pipeline's shared memory");
  float* const stage = reinterpret_cast<float*>(smem) + warp * 16 * kPitch;
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
#pragma unroll
    for (int j = 0; j < kBN / 8; ++j) {
      const PairAffine aff(f, n0 + j * 8 + 2 * t, s.O);
#pragma unroll
      for (int e2 = 0; e2 < 2; ++e2)
        aff.stage(stage, kPitch, g + 8 * e2, j * 8 + 2 * t, acc[h][4 * j + 2 * e2],
                  acc[h][4 * j + 2 * e2 + 1], f.out_scale != nullptr);
    }
    __syncwarp();
    store_staged<Op, 16, kBN>(stage, lane, m0 + h * 64 + 16 * warp, n0, s, out, f);
    __syncwarp();
  }
}

// The warp-specialised variant: 384 threads, warpgroup 0 the producer (the cp.async loads of
// every stage, as the 128 threads of the loader above), warpgroups 1 and 2 the consumers (rows
// 0-63 and 64-127 of the tile, one m64nkBNk16 wgmma per k16 step each). They hand the three
// stages over with named barriers, FULL(s) = 1 + s and EMPTY(s) = 4 + s, 384 threads each:
//   producer, stage kt: sync EMPTY(kt) if kt >= 3 (the consumers are done with stage kt - 3);
//     cp.async stage kt; then cp.async.wait_group(1), fence.proxy.async and arrive FULL(kt - 1):
//     one stage stays in flight while the previous one is handed over (the last at the end);
//   consumer, stage kt: sync FULL(kt); wgmma.fence, 2 wgmma, commit; wgmma.wait_group(1) (stage
//     kt - 1's are done); arrive EMPTY(kt - 1) if the producer will refill it (kt + 2 < Kt).
// A barrier id's next phase cannot start before its current one completes: the producer's next
// FULL(s) arrive comes after its EMPTY(s) sync, which needs the consumers past their FULL(s) sync.
// Not done: TMA (im2col) loads and setmaxnreg (the producer needs far fewer registers).
constexpr int kWsThreads = 3 * kThreads;
__device__ __forceinline__ int full_barrier(int kt) { return 1 + kt % Tile::kStages; }
__device__ __forceinline__ int empty_barrier(int kt) { return 4 + kt % Tile::kStages; }

template <class Op, int kBN, int KS>
__global__ void __launch_bounds__(kWsThreads, 1)
    conv2d_nhwc_ws_kernel(NhwcShape s, const uint16_t* __restrict__ in,
                          const uint16_t* __restrict__ wp, uint16_t* out, NhwcFusion f) {
  constexpr int kAStage = Tile::kM * kChunks, kBStage = kBN * kChunks;  // in 16-byte units
  static_assert(Tile::kStages == 3, "the barrier ids assume three stages");
  DICE_SHARED_ALIGNED(uint4, smem, [Tile::kStages * (Tile::kM + kBN) * kChunks], 1024);
  uint4* const As = smem;
  uint4* const Bs = smem + Tile::kStages * kAStage;

  const int tid = static_cast<int>(threadIdx.x);
  const int group = tid / kThreads;  // 0 producer, 1 and 2 consumers
  const int n_tiles = (s.O + kBN - 1) / kBN;
  const int n0 = static_cast<int>(blockIdx.x % static_cast<unsigned>(n_tiles)) * kBN;
  const int m0 = static_cast<int>(blockIdx.x / static_cast<unsigned>(n_tiles)) * Tile::kM;
  float acc[kBN / 2];

  if (group == 0) {
    const Loader<kBN, KS> loader(s, in, wp, tid, m0, n0);
    for (int kt = 0; kt < s.Kt; ++kt) {
      const int st = kt % Tile::kStages;
      if (kt >= Tile::kStages) ptx::named_barrier_sync(empty_barrier(kt), kWsThreads);
      loader.load(As + st * kAStage, Bs + st * kBStage, kt);
      ptx::cp_async_commit_group();
      if (kt >= 1) {
        ptx::cp_async_wait_group<1>();
        ptx::fence_proxy_async();
        ptx::named_barrier_arrive(full_barrier(kt - 1), kWsThreads);
      }
    }
    ptx::cp_async_wait_group<0>();
    ptx::fence_proxy_async();
    if (s.Kt > 0) ptx::named_barrier_arrive(full_barrier(s.Kt - 1), kWsThreads);
  } else {
    const int h = group - 1;  // rows 64 h .. 64 h + 63
#pragma unroll
    for (int i = 0; i < kBN / 2; ++i) acc[i] = 0.0f;
    for (int kt = 0; kt < s.Kt; ++kt) {
      const int st = kt % Tile::kStages;
      ptx::named_barrier_sync(full_barrier(kt), kWsThreads);
      const uint4* as = As + st * kAStage + h * 64 * kChunks;
      const uint4* bs = Bs + st * kBStage;
#pragma unroll
      for (int i = 0; i < kBN / 2; ++i) ptx::wgmma_fence_operand(acc[i]);
      ptx::wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < Tile::kK / 16; ++kk)
        ptx::wgmma_m64k16<kBN, Op::kIsBf16>(acc, ptx::wgmma_desc_k_sw64(as + 2 * kk),
                                            ptx::wgmma_desc_k_sw64(bs + 2 * kk), 1);
      ptx::wgmma_commit_group();
      ptx::wgmma_wait_group<1>();
#pragma unroll
      for (int i = 0; i < kBN / 2; ++i) ptx::wgmma_fence_operand(acc[i]);
      if (kt >= 1 && kt + 2 < s.Kt) ptx::named_barrier_arrive(empty_barrier(kt - 1), kWsThreads);
    }
    ptx::wgmma_wait_group<0>();
#pragma unroll
    for (int i = 0; i < kBN / 2; ++i) ptx::wgmma_fence_operand(acc[i]);
  }
  __syncthreads();  // loads and wgmma are over: the epilogue reuses the stages

  if (group == 0) return;
  // Epilogue: consumer warp cw (0..7) owns rows 64 h + 16 w .. + 15 (w = its warp in the group),
  // staged 64 channels at a time (16 x 72 floats per warp: 36 KB for the 8 warps).
  const int lane = tid % 32, cw = tid / 32 - 4, w = cw % 4, h = cw / 4;
  constexpr int kCols = 64, kPitch = kCols + 8;
  static_assert(8 * 16 * kPitch * 4 <= sizeof(uint4) * Tile::kStages * (Tile::kM + kBN) * kChunks,
                "the staging tiles fit the pipeline's shared memory");
  float* const stage = reinterpret_cast<float*>(smem) + cw * 16 * kPitch;
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int pass = 0; pass < kBN / kCols; ++pass) {
#pragma unroll
    for (int jj = 0; jj < kCols / 8; ++jj) {
      const int j = pass * (kCols / 8) + jj;
      const PairAffine aff(f, n0 + j * 8 + 2 * t, s.O);
#pragma unroll
      for (int e2 = 0; e2 < 2; ++e2)
        aff.stage(stage, kPitch, g + 8 * e2, jj * 8 + 2 * t, acc[4 * j + 2 * e2],
                  acc[4 * j + 2 * e2 + 1], f.out_scale != nullptr);
    }
    __syncwarp();
    store_staged<Op, 16, kCols>(stage, lane, m0 + h * 64 + 16 * w, n0 + pass * kCols, s, out, f);
    __syncwarp();
  }
}

template <class Op, int kBN, int KS>
struct WgmmaKernel {
  static constexpr int kBlockThreads = kThreads;
  static_assert(kBlockThreads % 128 == 0, "whole warpgroups");
  static constexpr auto kernel = conv2d_nhwc_wgmma_kernel<Op, kBN, KS>;
};

template <class Op, int kBN, int KS>
struct WsKernel {
  static constexpr int kBlockThreads = kWsThreads;
  static_assert(kBlockThreads % 128 == 0, "whole warpgroups");
  static constexpr auto kernel = conv2d_nhwc_ws_kernel<Op, kBN, KS>;
};

}  // namespace

namespace nhwc {

void launch_wgmma(const NhwcShape& s, bool bf16, bool warp_specialized, const uint16_t* in,
                  const uint16_t* w, uint16_t* out, const NhwcFusion& f, cudaStream_t stream) {
  if (warp_specialized)
    launch<WsKernel>(s, bf16, in, w, out, f, stream);
  else
    launch<WgmmaKernel>(s, bf16, in, w, out, f, stream);
}

}  // namespace nhwc
}  // namespace dice
