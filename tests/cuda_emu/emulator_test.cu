// The CPU emulator of the CUDA device (cuda_emu/, built with -DDICE_CUDA_EMU=ON), tested against
// what the CUDA programming guide and the PTX ISA define, so that the GPU tests it runs mean what
// they mean on a device: barriers publish shared-memory writes, warp collectives do not (one warp
// runs ahead of the others up to its next barrier), shared memory starts every block
// as poison (static and dynamic, also for a block that follows another on the same OS thread),
// shuffles read the right lanes, mma.sync computes A*B+C from the ISA's fragment layouts, ldmatrix
// hands out the ISA's fragments (and feeds mma.sync as tensor-core kernels use it), cp.async data
// appears only at the wait that covers it (so the planted mutation "missing cp.async wait" reads
// poison), the fp16/bf16/tf32 conversions round as the hardware does (checked against
// kernels/precision.cpp, written independently), graphs replay what was captured, streams run
// late (a missing synchronisation or event wait shows), host pointers and wrong copy directions
// fail, bad launch configurations fail, and the hardware rules a kernel can break (barrier
// divergence, partial-warp or disagreeing collectives, too much static shared memory, misaligned
// or non-shared cp.async and ldmatrix addresses, named barriers that deadlock) stop the program.
// Named barriers hand a buffer over between warps, and a write after bar.arrive shows. The device instructions go
// through gpu/ptx.h, as in the kernels. Built only in emulator builds.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "core/parallel.h"
#include "formats/half.h"
#include "gpu/cuda_launch.h"
#include "gpu/cuda_memory.h"
#include "gpu/ptx.h"
#include "kernels/mma_fragments.h"
#include "kernels/precision.h"

namespace dice {
namespace {

// Thread t publishes 2t, then reads its neighbour's value after the barrier.
__global__ void neighbour_kernel(int* out) {
  DICE_SHARED(int, vals, [256]);
  const int t = static_cast<int>(threadIdx.x), n = static_cast<int>(blockDim.x);
  vals[t] = 2 * t + 1000 * static_cast<int>(blockIdx.x);
  __syncthreads();
  out[blockIdx.x * blockDim.x + t] = vals[(t + 1) % n];
}

// The same without the barrier: what a thread reads depends on who ran first.
__global__ void racy_neighbour_kernel(int* out) {
  DICE_SHARED(int, vals, [256]);
  const int t = static_cast<int>(threadIdx.x), n = static_cast<int>(blockDim.x);
  vals[t] = 2 * t + 1;
  out[t] = vals[(t + 1) % n];
}

TEST(CudaEmu, BarrierPublishesSharedWrites) {
  DeviceBuffer<int> out(3 * 256);
  for (emu::Order order : {emu::Order::kForward, emu::Order::kReverse}) {
    emu::set_schedule_order(order);
    out.poison();
    launch_kernel(neighbour_kernel, 3, 256, 0, nullptr, out.data());
    DICE_CUDA_CHECK_LAUNCH();
    const std::vector<int> got = out.download();
    for (int b = 0; b < 3; ++b)
      for (int t = 0; t < 256; ++t)
        ASSERT_EQ(got[b * 256 + t], 2 * ((t + 1) % 256) + 1000 * b) << "block " << b << " thread " << t;
  }
  emu::set_schedule_order(emu::Order::kForward);
}

TEST(CudaEmu, MissingBarrierShowsAsOrderDependence) {
  DeviceBuffer<int> out(256);
  std::vector<int> got[2];
  int i = 0;
  for (emu::Order order : {emu::Order::kForward, emu::Order::kReverse}) {
    emu::set_schedule_order(order);
    launch_kernel(racy_neighbour_kernel, 1, 256, 0, nullptr, out.data());
    got[i++] = out.download();
  }
  emu::set_schedule_order(emu::Order::kForward);
  // Forward: thread t reads t+1 before t+1 has written (the poison, -1 as an int); reverse: t+1
  // has run first. A kernel with this race gives different results under the two orders.
  EXPECT_EQ(got[0][0], -1);
  EXPECT_EQ(got[1][0], 3);
  EXPECT_NE(got[0], got[1]);
}

// __syncwarp orders a warp's shared-memory writes before its lanes' reads (the epilogue of
// conv2d_nhwc stages its tile so); without it the first lanes read poison.
template <bool kSync>
__global__ void warp_neighbour_kernel(int* out) {
  DICE_SHARED(int, vals, [64]);
  const int t = static_cast<int>(threadIdx.x), lane = t % 32, base = t - lane;
  vals[t] = 3 * t + 1;
  if (kSync) __syncwarp();
  out[t] = vals[base + (lane + 1) % 32];
}

TEST(CudaEmu, SyncwarpPublishesTheWarpsWrites) {
  DeviceBuffer<int> out(64);
  for (emu::Order order : {emu::Order::kForward, emu::Order::kReverse}) {
    emu::set_schedule_order(order);
    launch_kernel(warp_neighbour_kernel<true>, 1, 64, 0, nullptr, out.data());
    const std::vector<int> got = out.download();
    for (int t = 0; t < 64; ++t) ASSERT_EQ(got[t], 3 * (t - t % 32 + (t % 32 + 1) % 32) + 1) << t;
  }
  emu::set_schedule_order(emu::Order::kForward);
  launch_kernel(warp_neighbour_kernel<false>, 1, 64, 0, nullptr, out.data());
  EXPECT_EQ(out.download()[0], -1);  // lane 0 ran before lane 1 wrote
}

// Producer / consumer over named barriers, three rounds: warp 0 fills the buffer and arrives at
// FULL (1); warps 1 and 2 sync there, read, and arrive at EMPTY (2), where the producer syncs
// before the next round. kLate writes after the arrive instead: a race the consumers must see.
template <bool kLate>
__global__ void named_barrier_kernel(int* out) {
  DICE_SHARED(int, vals, [64]);
  const int t = static_cast<int>(threadIdx.x);
  for (int round = 0; round < 3; ++round) {
    if (t < 32) {
      if (round > 0) ptx::named_barrier_sync(2, 96);
      if (!kLate) vals[t] = 100 * round + t, vals[t + 32] = 100 * round + t + 32;
      ptx::named_barrier_arrive(1, 96);
      if (kLate) vals[t] = 100 * round + t, vals[t + 32] = 100 * round + t + 32;
    } else {
      ptx::named_barrier_sync(1, 96);
      out[round * 64 + t - 32] = vals[t - 32];
      ptx::named_barrier_arrive(2, 96);
    }
  }
  if (t < 32) ptx::named_barrier_sync(2, 96);  // the last round's EMPTY phase
}

TEST(CudaEmu, NamedBarriersHandOverBetweenWarps) {
  DeviceBuffer<int> out(3 * 64);
  for (emu::Order order : {emu::Order::kForward, emu::Order::kReverse}) {
    emu::set_schedule_order(order);
    out.poison();
    launch_kernel(named_barrier_kernel<false>, 1, 96, 0, nullptr, out.data());
    DICE_CUDA_CHECK_LAUNCH();
    const std::vector<int> got = out.download();
    for (int r = 0; r < 3; ++r)
      for (int i = 0; i < 64; ++i) ASSERT_EQ(got[r * 64 + i], 100 * r + i) << "round " << r << " " << i;
    // Writing after the arrive: the consumers read the buffer as it was at the arrive.
    out.poison();
    launch_kernel(named_barrier_kernel<true>, 1, 96, 0, nullptr, out.data());
    const std::vector<int> late = out.download();
    EXPECT_EQ(late[0], -1) << "round 0 must read the poison";
    EXPECT_EQ(late[64], 0) << "round 1 must read round 0's values";
  }
  emu::set_schedule_order(emu::Order::kForward);
}

__global__ void named_barrier_deadlock_kernel(int* out) {
  const int t = static_cast<int>(threadIdx.x);
  if (t >= 32) ptx::named_barrier_sync(1, 64);  // the producer warp never arrives
  out[t] = t;
}

// Each thread fills its slot, the warp meets at a shuffle, then every thread reads a slot of the
// other warp, with no barrier in between: a race across warps that a warp collective must not hide.
__global__ void cross_warp_racy_kernel(int* out) {
  DICE_SHARED(int, vals, [64]);
  const int t = static_cast<int>(threadIdx.x);
  vals[t] = t + 1;
  const int partner = __shfl_xor_sync(0xFFFFFFFFu, t, 1);
  out[t] = vals[(t + 32) % 64] + 0 * partner;
}

TEST(CudaEmu, WarpCollectivesDoNotSynchroniseWarps) {
  // One warp runs ahead to its next barrier (here the end), so in either order one warp reads the
  // other's slots before they are written: poison (-1) shows up. A scheduler that completed the
  // shuffle only once every warp had reached it would publish all the writes and hide the race.
  DeviceBuffer<int> out(64);
  for (emu::Order order : {emu::Order::kForward, emu::Order::kReverse}) {
    emu::set_schedule_order(order);
    out.poison();
    launch_kernel(cross_warp_racy_kernel, 1, 64, 0, nullptr, out.data());
    DICE_CUDA_CHECK_LAUNCH();
    const std::vector<int> got = out.download();
    const int first_warp = order == emu::Order::kForward ? 0 : 32;  // the one that ran ahead
    for (int t = first_warp; t < first_warp + 32; ++t) EXPECT_EQ(got[t], -1) << "thread " << t;
  }
  emu::set_schedule_order(emu::Order::kForward);
}

// Thread t reads element t before any thread of its block wrote it, then writes it; after the
// barrier it reads its neighbour's. The block that ran before on the same OS thread left its own
// values in the (thread_local) static array, and in the dynamic one.
__global__ void first_read_static_kernel(uint32_t* first, uint32_t* after) {
  DICE_SHARED(uint32_t, vals, [64]);
  const unsigned t = threadIdx.x, n = blockDim.x, b = blockIdx.x;
  first[b * n + t] = vals[t];
  vals[t] = b * 1000 + t;
  __syncthreads();
  after[b * n + t] = vals[(t + 1) % n];
}
__global__ void first_read_dynamic_kernel(uint32_t* first, uint32_t* after) {
  DICE_DYNAMIC_SHARED(uint32_t, vals);
  const unsigned t = threadIdx.x, n = blockDim.x, b = blockIdx.x;
  first[b * n + t] = vals[t];
  vals[t] = b * 1000 + t;
  __syncthreads();
  after[b * n + t] = vals[(t + 1) % n];
}

// Four blocks per pool thread: each OS thread runs several blocks one after another, so every
// block but the first of each thread finds the previous block's values unless they are poisoned.
TEST(CudaEmu, SharedMemoryStartsEveryBlockPoisoned) {
  const int n = 64, blocks = 4 * num_threads();
  DeviceBuffer<uint32_t> first(static_cast<size_t>(blocks) * n), after(first.size());
  for (bool dynamic : {false, true}) {
    SCOPED_TRACE(dynamic ? "dynamic" : "static");
    first.poison();
    after.poison();
    if (dynamic)
      launch_kernel(first_read_dynamic_kernel, blocks, n, n * sizeof(uint32_t), nullptr,
                    first.data(), after.data());
    else
      launch_kernel(first_read_static_kernel, blocks, n, 0, nullptr, first.data(), after.data());
    DICE_CUDA_CHECK_LAUNCH();
    const std::vector<uint32_t> f = first.download(), a = after.download();
    for (int b = 0; b < blocks; ++b)
      for (int t = 0; t < n; ++t) {
        ASSERT_EQ(f[b * n + t], 0xFFFFFFFFu) << "block " << b << " thread " << t;
        // ...poisoned once per block, not once per thread: the writes of the threads that ran
        // first survive the later threads' declarations.
        ASSERT_EQ(a[b * n + t], static_cast<uint32_t>(b * 1000 + (t + 1) % n))
            << "block " << b << " thread " << t;
      }
  }
}

// Lane l of each warp reads lanes l ^ 5, l + 3 and l - 2 (its own value past either end).
__global__ void shuffle_kernel(const int* in, int* xor_out, int* down_out, int* up_out,
                               double* sum_out) {
  const int t = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  const int v = in[t];
  xor_out[t] = __shfl_xor_sync(0xffffffffu, v, 5);
  down_out[t] = __shfl_down_sync(0xffffffffu, v, 3);
  up_out[t] = __shfl_up_sync(0xffffffffu, v, 2);
  double s = v;
  for (int offset = 16; offset > 0; offset /= 2) s += __shfl_xor_sync(0xffffffffu, s, offset);
  sum_out[t] = s;
}

TEST(CudaEmu, ShufflesReadTheRightLanes) {
  const int n = 2 * 64;
  std::vector<int> in(n);
  for (int i = 0; i < n; ++i) in[i] = i * 7 % 31 - 11;
  DeviceBuffer<int> d_in(in), xo(n), dn(n), up(n);
  DeviceBuffer<double> sum(n);
  launch_kernel(shuffle_kernel, 2, 64, 0, nullptr, d_in.data(), xo.data(), dn.data(), up.data(),
                sum.data());
  const std::vector<int> x = xo.download(), d = dn.download(), u = up.download();
  const std::vector<double> s = sum.download();
  for (int i = 0; i < n; ++i) {
    const int warp0 = i / 32 * 32, lane = i % 32;
    EXPECT_EQ(x[i], in[warp0 + (lane ^ 5)]) << i;
    EXPECT_EQ(d[i], lane + 3 < 32 ? in[i + 3] : in[i]) << i;
    EXPECT_EQ(u[i], lane >= 2 ? in[i - 2] : in[i]) << i;
    double want = 0;
    for (int l = 0; l < 32; ++l) want += in[warp0 + l];
    EXPECT_EQ(s[i], want) << i;
  }
}

// One warp computes D = A (16xK) * B (Kx8) + C, every operand moving through mma_fragments.h's
// maps (which a host test checks against spot values of the PTX tables).
uint32_t operand_bits(float x, Precision kind) {
  if (kind == Precision::kTf32) return ptx::cvt_rna_tf32(x);
  if (kind == Precision::kFp16) return __float2half_rn(x).bits;
  return __float2bfloat16_rn(x).bits;
}

__global__ void mma_kernel(Precision kind, const float* A, const float* B, const float* C, float* D) {
  const int lane = static_cast<int>(threadIdx.x);
  const int K = kind == Precision::kTf32 ? 8 : 16;
  uint32_t a[4] = {0, 0, 0, 0}, b[2] = {0, 0};
  float d[4];
  for (int i = 0; i < 4; ++i) {
    const mma::RowCol rc = mma::c_m16n8(lane, i);
    d[i] = C[rc.row * 8 + rc.col];
  }
  if (kind == Precision::kTf32) {
    for (int i = 0; i < 4; ++i) {
      const mma::RowCol rc = mma::a_m16n8k8_tf32(lane, i);
      a[i] = operand_bits(A[rc.row * K + rc.col], kind);
    }
    for (int i = 0; i < 2; ++i) {
      const mma::RowCol rc = mma::b_m16n8k8_tf32(lane, i);
      b[i] = operand_bits(B[rc.row * 8 + rc.col], kind);
    }
    ptx::mma_m16n8k8_tf32(d, a, b);
  } else {
    for (int i = 0; i < 8; ++i) {
      const mma::RowCol rc = mma::a_m16n8k16(lane, i);
      a[i / 2] |= operand_bits(A[rc.row * K + rc.col], kind) << (16 * (i % 2));
    }
    for (int i = 0; i < 4; ++i) {
      const mma::RowCol rc = mma::b_m16n8k16(lane, i);
      b[i / 2] |= operand_bits(B[rc.row * 8 + rc.col], kind) << (16 * (i % 2));
    }
    if (kind == Precision::kFp16)
      ptx::mma_m16n8k16_f16(d, a, b);
    else
      ptx::mma_m16n8k16_bf16(d, a, b);
  }
  for (int i = 0; i < 4; ++i) {
    const mma::RowCol rc = mma::c_m16n8(lane, i);
    D[rc.row * 8 + rc.col] = d[i];
  }
}

TEST(CudaEmu, MmaComputesTheMatrixProduct) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  const struct {
    Precision p;
    int K;
  } cases[] = {{Precision::kFp16, 16}, {Precision::kBf16, 16}, {Precision::kTf32, 8}};
  for (const auto& c : cases) {
    SCOPED_TRACE(precision_name(c.p));
    std::vector<float> A(16 * c.K), B(c.K * 8), C(16 * 8);
    for (float& v : A) v = dist(rng);
    for (float& v : B) v = dist(rng);
    for (float& v : C) v = dist(rng);
    DeviceBuffer<float> dA(A), dB(B), dC(C), dD(16 * 8);
    dD.poison();
    launch_kernel(mma_kernel, 1, 32, 0, nullptr, c.p, dA.data(), dB.data(), dC.data(),
                  dD.data());
    const std::vector<float> D = dD.download();
    for (int r = 0; r < 16; ++r)
      for (int n = 0; n < 8; ++n) {
        double want = C[r * 8 + n];
        for (int k = 0; k < c.K; ++k)
          want += static_cast<double>(round_to_precision(A[r * c.K + k], c.p)) *
                  round_to_precision(B[k * 8 + n], c.p);
        ASSERT_EQ(D[r * 8 + n], static_cast<float>(want)) << "row " << r << " col " << n;
      }
  }
}

// ---- ldmatrix --------------------------------------------------------------------------------
// Element (matrix i, row r, column c) of the test tiles, as a 16-bit code.
constexpr uint32_t tile_code(int i, int r, int c) {
  return uint32_t(i) << 8 | uint32_t(r) << 4 | uint32_t(c);
}
constexpr int kLdPitch = 24;  // halves per stored row: 48 bytes, rows 16-byte aligned but apart

// One warp: four 8x8 matrices of codes in shared memory, loaded with ldmatrix.x<kNum>{.trans};
// lane l addresses row l % 8 of matrix l / 8, lanes past 8 * kNum pass null (ignored, per the
// ISA's table). out[4 * lane + i] = register i.
template <int kNum, bool kTrans>
__global__ void ldmatrix_kernel(uint32_t* out) {
  DICE_SHARED(uint16_t, tile, [4 * 8 * kLdPitch]);
  const int lane = static_cast<int>(threadIdx.x);
  for (int e = lane; e < 4 * 64; e += 32)
    tile[(e / 8) * kLdPitch + e % 8] = static_cast<uint16_t>(tile_code(e / 64, e / 8 % 8, e % 8));
  __syncthreads();
  const void* row = lane < 8 * kNum ? &tile[(lane / 8 * 8 + lane % 8) * kLdPitch] : nullptr;
  uint32_t r[kNum];
  ptx::ldmatrix<kNum, kTrans>(r, row);
  for (int i = 0; i < kNum; ++i) out[4 * lane + i] = r[i];
}

template <int kNum, bool kTrans>
std::vector<uint32_t> run_ldmatrix() {
  DeviceBuffer<uint32_t> out(32 * 4);
  out.poison();
  launch_kernel(ldmatrix_kernel<kNum, kTrans>, 1, 32, 0, nullptr, out.data());
  DICE_CUDA_CHECK_LAUNCH();
  return out.download();
}

// The expectation, from the PTX ISA's "ldmatrix fragment layout for one 8x8 Matrix with 16-bit
// elements" (section 9.7.14.5.15, Figure 104): lane l holds row l / 4, columns 2 * (l % 4) and
// 2 * (l % 4) + 1, the lower column in the low half; .trans loads the matrix column-major, so the
// same positions of the transpose. Register i comes from matrix i.
void expect_ldmatrix(const std::vector<uint32_t>& got, int num, bool trans) {
  for (int lane = 0; lane < 32; ++lane)
    for (int i = 0; i < 4; ++i) {
      const int g = lane / 4, c = 2 * (lane % 4);
      const uint32_t lo = trans ? tile_code(i, c, g) : tile_code(i, g, c);
      const uint32_t hi = trans ? tile_code(i, c + 1, g) : tile_code(i, g, c + 1);
      const uint32_t want = i < num ? (lo | hi << 16) : 0xFFFFFFFFu;  // untouched past .num
      ASSERT_EQ(got[4 * lane + i], want) << "lane " << lane << " register " << i;
    }
}

TEST(CudaEmu, LdmatrixHandsOutTheIsaFragments) {
  const std::vector<uint32_t> x1 = run_ldmatrix<1, false>(), x2 = run_ldmatrix<2, false>(),
                              x4 = run_ldmatrix<4, false>(), x1t = run_ldmatrix<1, true>(),
                              x2t = run_ldmatrix<2, true>(), x4t = run_ldmatrix<4, true>();
  // Spot values read off the figure by hand (code = matrix << 8 | row << 4 | column):
  EXPECT_EQ(x1[0], 0x00010000u);          // lane 0: row 0, columns 0 and 1
  EXPECT_EQ(x1[4 * 5], 0x00130012u);      // lane 5: row 1, columns 2 and 3
  EXPECT_EQ(x1[4 * 31], 0x00770076u);     // lane 31: row 7, columns 6 and 7
  EXPECT_EQ(x1t[4 * 5], 0x00310021u);     // .trans, lane 5: column 1, rows 2 and 3
  EXPECT_EQ(x1t[4 * 31], 0x00770067u);    // .trans, lane 31: column 7, rows 6 and 7
  EXPECT_EQ(x4[4 * 9 + 2], 0x02230222u);  // .x4, lane 9, register 2: matrix 2, row 2, columns 2, 3
  // .x4.trans, lane 9, register 3: matrix 3, column 2, rows 2 and 3
  EXPECT_EQ(x4t[4 * 9 + 3], 0x03320322u);
  expect_ldmatrix(x1, 1, false);
  expect_ldmatrix(x2, 2, false);
  expect_ldmatrix(x4, 4, false);
  expect_ldmatrix(x1t, 1, true);
  expect_ldmatrix(x2t, 2, true);
  expect_ldmatrix(x4t, 4, true);
}

// How tensor-core kernels feed mma.sync: A (16x16, row-major) through ldmatrix.x4 (matrices: rows
// 0-7 and 8-15 of k 0-7, then of k 8-15, matching registers a0..a3), B (16x8 stored row-major as
// [k][n]) through ldmatrix.x2.trans (k 0-7, k 8-15). Checks that the emulator's ldmatrix and mma
// tables agree with each other as the ISA means them.
__global__ void ldmatrix_mma_kernel(const uint16_t* A, const uint16_t* B, float* D) {
  DICE_SHARED(uint16_t, as, [16 * kLdPitch]);
  DICE_SHARED(uint16_t, bs, [16 * kLdPitch]);
  const int lane = static_cast<int>(threadIdx.x);
  for (int e = lane; e < 16 * 16; e += 32) as[e / 16 * kLdPitch + e % 16] = A[e];
  for (int e = lane; e < 16 * 8; e += 32) bs[e / 8 * kLdPitch + e % 8] = B[e];
  __syncthreads();
  const int q = lane / 8;
  uint32_t a[4], b[2];
  ptx::ldmatrix<4>(a, &as[((q % 2) * 8 + lane % 8) * kLdPitch + (q / 2) * 8]);
  ptx::ldmatrix_trans<2>(b, &bs[(lane % 16) * kLdPitch]);
  float d[4] = {0, 0, 0, 0};
  ptx::mma_m16n8k16_f16(d, a, b);
  for (int i = 0; i < 4; ++i) {
    const mma::RowCol rc = mma::c_m16n8(lane, i);
    D[rc.row * 8 + rc.col] = d[i];
  }
}

TEST(CudaEmu, LdmatrixFeedsMma) {
  std::vector<float> A(16 * 16), B(16 * 8);
  std::vector<uint16_t> a16(A.size()), b16(B.size());
  for (size_t i = 0; i < A.size(); ++i)
    A[i] = static_cast<float>(static_cast<int>(i * 7 % 13) - 6) * 0.25f;
  for (size_t i = 0; i < B.size(); ++i)
    B[i] = static_cast<float>(static_cast<int>(i * 5 % 11) - 5) * 0.5f;
  for (size_t i = 0; i < A.size(); ++i) a16[i] = __float2half_rn(A[i]).bits;  // exact in fp16
  for (size_t i = 0; i < B.size(); ++i) b16[i] = __float2half_rn(B[i]).bits;
  DeviceBuffer<uint16_t> dA(a16), dB(b16);
  DeviceBuffer<float> dD(16 * 8);
  dD.poison();
  launch_kernel(ldmatrix_mma_kernel, 1, 32, 0, nullptr, dA.data(), dB.data(), dD.data());
  DICE_CUDA_CHECK_LAUNCH();
  const std::vector<float> D = dD.download();
  for (int r = 0; r < 16; ++r)
    for (int n = 0; n < 8; ++n) {
      double want = 0;
      for (int k = 0; k < 16; ++k) want += static_cast<double>(A[r * 16 + k]) * B[k * 8 + n];
      ASSERT_EQ(D[r * 8 + n], static_cast<float>(want)) << "row " << r << " col " << n;
    }
}

// ---- cp.async ---------------------------------------------------------------------------------
// 32 threads. Group 0: thread t copies floats 4t .. 4t+3 with a 16-byte cp.async.cg whose
// src-size keeps the first t % 5 of them (the rest zero-filled); group 1: float 128 + t with a
// 4-byte cp.async.ca. Then wait_group 1 (group 0 done, group 1 may be pending), read everything;
// wait_group 0, read everything again. kWait = false is the planted mutation: the waits removed.
template <bool kWait>
__global__ void cp_async_kernel(const float* in, float* after_group0, float* after_all) {
  DICE_SHARED(float, s, [160]);
  const int t = static_cast<int>(threadIdx.x);
  ptx::cp_async_cg(&s[4 * t], &in[4 * t], 4 * (t % 5));
  ptx::cp_async_commit_group();
  ptx::cp_async_ca<4>(&s[128 + t], &in[128 + t]);
  ptx::cp_async_commit_group();
  if (kWait) ptx::cp_async_wait_group<1>();
  __syncthreads();
  for (int i = 0; i < 4; ++i) after_group0[4 * t + i] = s[4 * t + i];
  after_group0[128 + t] = s[128 + t];
  __syncthreads();
  if (kWait) ptx::cp_async_wait_group<0>();
  __syncthreads();
  for (int i = 0; i < 4; ++i) after_all[4 * t + i] = s[4 * t + i];
  after_all[128 + t] = s[128 + t];
}

std::vector<float> cp_async_input() {
  std::vector<float> in(160);
  for (int i = 0; i < 160; ++i) in[i] = static_cast<float>(i + 1);
  return in;
}

TEST(CudaEmu, CpAsyncDataAppearsAtItsWait) {
  const std::vector<float> in = cp_async_input();
  DeviceBuffer<float> d_in(in), group0(160), all(160);
  launch_kernel(cp_async_kernel<true>, 1, 32, 0, nullptr, d_in.data(), group0.data(), all.data());
  DICE_CUDA_CHECK_LAUNCH();
  const std::vector<float> g = group0.download(), a = all.download();
  for (int i = 0; i < 128; ++i) {
    const int t = i / 4;
    const float want = i % 4 < t % 5 ? in[i] : 0.0f;  // src-size: the rest is zeros
    EXPECT_EQ(g[i], want) << i;
    EXPECT_EQ(a[i], want) << i;
  }
  for (int i = 128; i < 160; ++i) {
    // The emulator completes a group as late as the ISA allows: after wait_group 1 the most
    // recent group is still pending, its destination poison.
    EXPECT_TRUE(std::isnan(g[i])) << i;
    EXPECT_EQ(a[i], in[i]) << i;
  }
}

// The acceptance's planted mutation "missing cp.async wait": the kernel above without its waits
// reads poison everywhere, so every kernel test built on such a kernel fails on the emulator.
TEST(CudaEmu, MissingCpAsyncWaitReadsPoison) {
  DeviceBuffer<float> d_in(cp_async_input()), group0(160), all(160);
  launch_kernel(cp_async_kernel<false>, 1, 32, 0, nullptr, d_in.data(), group0.data(), all.data());
  DICE_CUDA_CHECK_LAUNCH();
  for (float v : group0.download()) EXPECT_TRUE(std::isnan(v));
  for (float v : all.download()) EXPECT_TRUE(std::isnan(v));
}

// A reused stage: the destination held valid data, and a cp.async over it makes it undefined
// until the wait (poison here), even before any wait could have been forgotten by another thread.
// wait_all also commits copies that were never committed.
__global__ void cp_async_reuse_kernel(const float* in, float* before, float* after) {
  DICE_SHARED(float, s, [32]);
  const int t = static_cast<int>(threadIdx.x);
  s[t] = 1.0f;
  __syncthreads();
  ptx::cp_async_ca<4>(&s[t], &in[t]);
  before[t] = s[t];
  ptx::cp_async_wait_all();
  after[t] = s[t];
}

TEST(CudaEmu, CpAsyncDestinationIsUndefinedUntilTheWait) {
  DeviceBuffer<float> d_in(cp_async_input()), before(32), after(32);
  launch_kernel(cp_async_reuse_kernel, 1, 32, 0, nullptr, d_in.data(), before.data(), after.data());
  DICE_CUDA_CHECK_LAUNCH();
  const std::vector<float> b = before.download(), a = after.download();
  for (int t = 0; t < 32; ++t) {
    EXPECT_TRUE(std::isnan(b[t])) << t;
    EXPECT_EQ(a[t], static_cast<float>(t + 1)) << t;
  }
}

float bits_to_float(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

// The stand-in conversions against kernels/precision.cpp's (used by the kernel tests' references):
// a random sweep over all binades plus the boundaries (half's overflow threshold, subnormals,
// ties, signed zeros, infinities).
TEST(CudaEmu, ConversionsRoundAsTheHardware) {
  std::vector<float> xs = {0.0f, -0.0f, 1.0f, -1.0f, 65504.0f, 65519.0f, 65520.0f, -65520.0f,
                           6.1035156e-05f, 5.9604645e-08f, 2.9802322e-08f, 2.98023259e-08f,
                           1.0009766f, 1.00048828125f, 1.00146484375f, INFINITY, -INFINITY};
  std::mt19937 rng(11);
  for (int i = 0; i < 200000; ++i) {
    const float x = bits_to_float(static_cast<uint32_t>(rng()));
    if (!std::isnan(x)) xs.push_back(x);
  }
  for (float x : xs) {
    const float h = half_to_float(__float2half_rn(x).bits);
    const float want_h = round_to_precision(x, Precision::kFp16);
    ASSERT_TRUE(h == want_h && std::signbit(h) == std::signbit(want_h)) << x;
    const float b = bits_to_float(static_cast<uint32_t>(__float2bfloat16_rn(x).bits) << 16);
    ASSERT_EQ(b, round_to_precision(x, Precision::kBf16)) << x;
    ASSERT_EQ(bits_to_float(ptx::cvt_rna_tf32(x)), round_to_precision(x, Precision::kTf32)) << x;
  }
}

__global__ void scale_kernel(const float* in, float* out, float s, int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) out[i] = in[i] * s;
}

// Captured work does not run at capture time; each replay runs it with the captured arguments
// on the memory as it is at replay time.
TEST(CudaEmu, GraphsReplayWhatWasCaptured) {
  Stream stream;
  std::vector<float> x = {1, 2, 3, 4, 5};
  DeviceBuffer<float> in(x), out(5);
  out.poison();
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  DICE_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  launch_kernel(scale_kernel, 1, 32, 0, stream.get(), in.data(), out.data(), 3.0f, 5);
  DICE_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  DICE_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  for (float v : out.download()) EXPECT_TRUE(std::isnan(v));  // not run yet
  DICE_CUDA_CHECK(cudaGraphLaunch(exec, stream));
  stream.synchronize();  // download() copies on the legacy stream, which does not wait for `stream`
  EXPECT_EQ(out.download(), (std::vector<float>{3, 6, 9, 12, 15}));
  x[0] = 10;
  copy_to_device(in.data(), x.data(), 5, stream);
  DICE_CUDA_CHECK(cudaGraphLaunch(exec, stream));
  stream.synchronize();
  EXPECT_EQ(out.download()[0], 30.0f);
  DICE_CUDA_CHECK(cudaGraphExecDestroy(exec));
  DICE_CUDA_CHECK(cudaGraphDestroy(graph));
}

// Stream work is deferred until the host must see it, so a missing synchronisation or event wait
// gives stale data every time (on a GPU it might pass by luck of timing).
TEST(CudaEmu, StreamsRunOnlyWhenTheHostOrAnEventNeedsThem) {
  Stream a, b;
  DeviceBuffer<float> in(std::vector<float>{1, 2, 3, 4, 5}), mid(5), out(5);
  mid.poison();
  out.poison();
  launch_kernel(scale_kernel, 1, 32, 0, a.get(), in.data(), mid.data(), 2.0f, 5);
  for (float v : mid.download()) EXPECT_TRUE(std::isnan(v));  // no sync on `a` yet
  a.synchronize();
  EXPECT_EQ(mid.download(), (std::vector<float>{2, 4, 6, 8, 10}));

  // b consumes what a produces: correct with the event wait...
  Event done;
  launch_kernel(scale_kernel, 1, 32, 0, a.get(), in.data(), mid.data(), 3.0f, 5);
  done.record(a.get());
  DICE_CUDA_CHECK(cudaStreamWaitEvent(b.get(), done.get(), 0));
  launch_kernel(scale_kernel, 1, 32, 0, b.get(), mid.data(), out.data(), 10.0f, 5);
  b.synchronize();  // runs a's work up to the event first
  EXPECT_EQ(out.download(), (std::vector<float>{30, 60, 90, 120, 150}));

  // ...and stale without it: b runs before a's queued kernel.
  launch_kernel(scale_kernel, 1, 32, 0, a.get(), in.data(), mid.data(), 4.0f, 5);
  launch_kernel(scale_kernel, 1, 32, 0, b.get(), mid.data(), out.data(), 10.0f, 5);
  b.synchronize();
  EXPECT_EQ(out.download(), (std::vector<float>{30, 60, 90, 120, 150}));  // the old mid
  DICE_CUDA_CHECK(cudaDeviceSynchronize());
  EXPECT_EQ(mid.download(), (std::vector<float>{4, 8, 12, 16, 20}));
}

TEST(CudaEmu, HostPointersAndWrongCopyDirectionsFail) {
  DeviceBuffer<float> dev(4);
  std::vector<float> host(4, 1.0f);
  cudaGetLastError();
  launch_kernel(scale_kernel, 1, 32, 0, nullptr, host.data(), dev.data(), 1.0f, 4);  // host input
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  launch_kernel(scale_kernel, 1, 32, 0, nullptr, dev.data() + 4, dev.data(), 1.0f, 0);  // one past: ok
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(dev.data(), host.data(), 16, cudaMemcpyDeviceToHost), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(host.data(), dev.data(), 16, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(dev.data(), host.data(), 20, cudaMemcpyHostToDevice), cudaErrorInvalidValue);  // past the end
  EXPECT_EQ(cudaMemcpy(dev.data(), host.data(), 16, cudaMemcpyHostToDevice), cudaSuccess);
  EXPECT_EQ(cudaMemset(host.data(), 0, 16), cudaErrorInvalidValue);
  cudaGetLastError();
}

TEST(CudaEmu, BadLaunchConfigurationsFail) {
  DeviceBuffer<float> buf(4);
  launch_kernel(scale_kernel, 1, 2048, 0, nullptr, buf.data(), buf.data(), 1.0f, 4);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  launch_kernel(scale_kernel, dim3(1, 70000), 32, 0, nullptr, buf.data(), buf.data(), 1.0f, 4);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  launch_kernel(scale_kernel, 1, 32, 64 * 1024, nullptr, buf.data(), buf.data(), 1.0f, 4);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);  // reading the error clears it
  EXPECT_EQ(cudaFree(reinterpret_cast<void*>(0x1000)), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
}

__global__ void early_exit_kernel(int* out) {
  if (threadIdx.x == 0) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}
__global__ void partial_mask_kernel(int* out) {
  out[threadIdx.x] = __shfl_xor_sync(0x0000ffffu, static_cast<int>(threadIdx.x), 1);
}
__global__ void too_much_static_shared_kernel(int* out) {
  DICE_SHARED(float, big, [13 * 1024]);  // 52 KiB
  big[threadIdx.x] = 1.0f;
  out[threadIdx.x] = static_cast<int>(big[threadIdx.x]);
}
__global__ void divergent_shuffle_kernel(int* out) {
  const int t = static_cast<int>(threadIdx.x);
  if (t < 16) {
    out[t] = __shfl_xor_sync(0xffffffffu, t, 1);
  } else {
    __syncthreads();
  }
}

__global__ void cp_async_to_global_kernel(const float* in, float* out) {
  ptx::cp_async_ca<4>(&out[threadIdx.x], &in[threadIdx.x]);
  ptx::cp_async_wait_all();
}
__global__ void cp_async_misaligned_kernel(const float* in, float*) {
  DICE_SHARED(float, s, [64]);
  ptx::cp_async_cg(&s[1 + 4 * threadIdx.x], &in[0]);
  ptx::cp_async_wait_all();
}
__global__ void cp_async_same_bytes_kernel(const float* in, float*) {
  DICE_SHARED(float, s, [64]);
  ptx::cp_async_ca<8>(&s[0], &in[0]);
  ptx::cp_async_ca<4>(&s[1], &in[1]);  // same group, overlapping destination
  ptx::cp_async_wait_all();
}
__global__ void ldmatrix_misaligned_kernel(float* out) {
  DICE_SHARED(uint16_t, tile, [8 * 16]);
  for (int e = static_cast<int>(threadIdx.x); e < 8 * 16; e += 32) tile[e] = 0;
  __syncthreads();
  uint32_t r[1];
  ptx::ldmatrix<1>(r, &tile[(threadIdx.x % 8) * 16 + 4]);
  out[threadIdx.x] = static_cast<float>(r[0]);
}
__global__ void ldmatrix_disagreeing_kernel(float* out) {
  DICE_SHARED(uint16_t, tile, [8 * 8]);
  for (int e = static_cast<int>(threadIdx.x); e < 8 * 8; e += 32) tile[e] = 0;
  __syncthreads();
  uint32_t r[1];
  if (threadIdx.x < 16)
    ptx::ldmatrix<1>(r, &tile[(threadIdx.x % 8) * 8]);
  else
    ptx::ldmatrix_trans<1>(r, &tile[(threadIdx.x % 8) * 8]);
  out[threadIdx.x] = static_cast<float>(r[0]);
}

TEST(CudaEmuDeathTest, AsyncCopyAndLdmatrixMisuseStopsTheProgram) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  DeviceBuffer<float> in(cp_async_input()), out(64);
  EXPECT_DEATH(launch_kernel(cp_async_to_global_kernel, 1, 32, 0, nullptr, in.data(), out.data()),
               "destination is not inside the block's shared memory");
  EXPECT_DEATH(launch_kernel(cp_async_misaligned_kernel, 1, 8, 0, nullptr, in.data(), out.data()),
               "not aligned to cp-size");
  EXPECT_DEATH(launch_kernel(cp_async_same_bytes_kernel, 1, 1, 0, nullptr, in.data(), out.data()),
               "two cp.async of one group write the same shared memory");
  EXPECT_DEATH(launch_kernel(ldmatrix_misaligned_kernel, 1, 32, 0, nullptr, out.data()),
               "not 16-byte aligned");
  EXPECT_DEATH(launch_kernel(ldmatrix_disagreeing_kernel, 1, 32, 0, nullptr, out.data()),
               "different collectives");
}

TEST(CudaEmuDeathTest, HardwareRulesStopTheProgram) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  DeviceBuffer<int> out(64);
  EXPECT_DEATH(launch_kernel(early_exit_kernel, 1, 64, 0, nullptr, out.data()),
               "__syncthreads waits for threads that have exited");
  EXPECT_DEATH(launch_kernel(partial_mask_kernel, 1, 32, 0, nullptr, out.data()),
               "partial lane mask");
  EXPECT_DEATH(launch_kernel(divergent_shuffle_kernel, 1, 32, 0, nullptr, out.data()),
               "divergent code");
  EXPECT_DEATH(launch_kernel(too_much_static_shared_kernel, 1, 32, 0, nullptr, out.data()),
               "more than 48 KiB of static shared memory");
  EXPECT_DEATH(launch_kernel(named_barrier_deadlock_kernel, 1, 64, 0, nullptr, out.data()),
               "deadlock");
}

}  // namespace
}  // namespace dice
