// cuda_emu's wgmma (cuda_emu/wgmma.cpp) against the PTX ISA as this test transcribes it on its
// own: operands placed in shared memory by explicit byte formulas for the 64-byte swizzle and the
// no-swizzle (core matrix) K-major layouts, the accumulator fragment decoded by the ISA's table,
// the product checked against a double reference. Then the asynchronous rules: accumulators hold
// NaN until the wait, and an operand stage refilled before the wait, a missing wgmma.fence, a
// missing fence.proxy.async after cp.async, a warpgroup that does not wait stop the program; a
// swizzle atom that is not 512-byte aligned gives another product. Built only in emulator builds.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "formats/half.h"
#include "gpu/cuda_launch.h"
#include "gpu/cuda_memory.h"
#include "gpu/ptx.h"
#include "kernels/precision.h"
#include "random.h"

namespace dice {
namespace {

constexpr int kK = 32;  // two k16 steps

// Byte offset of element (r, k) in the 64-byte swizzle K-major layout: 64-byte rows, 16-byte chunk
// c of row r stored at chunk c ^ ((r / 2) % 4), 8-row atoms of 512 bytes one after another.
int sw64_offset(int r, int k) {
  const int chunk = (2 * k) / 16, within = (2 * k) % 16;
  return r / 8 * 512 + r % 8 * 64 + (chunk ^ ((r / 2) % 4)) * 16 + within;
}
// Byte offset of element (r, k < 16) in the no-swizzle layout: 8 x 16-byte core matrices, the two
// along K 128 bytes apart (LBO), 8-row groups 256 bytes apart (SBO).
int interleave_offset(int r, int k) { return r / 8 * 256 + r % 8 * 16 + k / 8 * 128 + k % 8 * 2; }

uint64_t desc(uint32_t addr, uint32_t lbo, uint32_t sbo, int mode) {
  return ((addr & 0x3FFFF) >> 4) | (uint64_t{lbo >> 4} << 16) | (uint64_t{sbo >> 4} << 32) |
         (uint64_t(mode) << 62);
}

enum class Variant { kSw64, kInterleave, kEarlyRead, kRefillBeforeWait, kNoFence, kMisaligned };

// D (64 x N) = A (64 x K) B (K x N) by one warpgroup; A is [64][kK] and B [N][kK] 16-bit in
// global memory, placed into shared memory by the layout under test; d out as [128][N / 2].
template <int N, bool kBf16>
__global__ void wgmma_kernel(Variant v, const uint16_t* A, const uint16_t* B, float* out) {
  DICE_SHARED_ALIGNED(uint16_t, sm, [(64 + N) * kK + 512], 1024);
  const int t = static_cast<int>(threadIdx.x);
  char* base = reinterpret_cast<char*>(sm) + (v == Variant::kMisaligned ? 256 : 0);
  char* a_sm = base;
  char* b_sm = base + 64 * kK * 2;
  const bool sw = v != Variant::kInterleave;
  for (int i = t; i < 64 * kK; i += 128) {
    const int r = i / kK, k = i % kK;
    if (!sw && k >= 16) continue;
    std::memcpy(a_sm + (sw ? sw64_offset(r, k) : interleave_offset(r, k)), &A[i], 2);
  }
  for (int i = t; i < N * kK; i += 128) {
    const int r = i / kK, k = i % kK;
    if (!sw && k >= 16) continue;
    std::memcpy(b_sm + (sw ? sw64_offset(r, k) : interleave_offset(r, k)), &B[i], 2);
  }
  __syncthreads();
  float d[N / 2];
  for (int i = 0; i < N / 2; ++i) d[i] = 1.0f;  // scale_d 0 on the first step must ignore these
  if (v != Variant::kNoFence) ptx::wgmma_fence();
  const int steps = sw ? 2 : 1;
  for (int s = 0; s < steps; ++s) {
    uint64_t da, db;
    if (sw) {
      da = ptx::wgmma_desc_k_sw64(a_sm + 32 * s), db = ptx::wgmma_desc_k_sw64(b_sm + 32 * s);
    } else {
      da = desc(ptx::shared_window(a_sm), 128, 256, 0), db = desc(ptx::shared_window(b_sm), 128, 256, 0);
    }
    ptx::wgmma_m64k16<N, kBf16>(d, da, db, s == 0 ? 0 : 1);
  }
  ptx::wgmma_commit_group();
  if (v == Variant::kEarlyRead) out[t * (N / 2)] = d[0];  // before the wait: undefined (NaN here)
  if (v == Variant::kRefillBeforeWait) {
    __syncthreads();
    for (int i = t; i < 64 * kK; i += 128) std::memset(a_sm + 2 * i, 0, 2);  // A := 0, too early
    __syncthreads();
  }
  ptx::wgmma_wait_group<0>();
  if (v == Variant::kEarlyRead) return;
  for (int i = 0; i < N / 2; ++i) out[t * (N / 2) + i] = d[i];
}

template <int N, bool kBf16>
void check_product(Variant v) {
  const Precision p = kBf16 ? Precision::kBf16 : Precision::kFp16;
  const std::vector<float> af = test::random_floats(64 * kK, 1 + N, -1.0f, 1.0f);
  const std::vector<float> bf = test::random_floats(N * kK, 2 + N, -1.0f, 1.0f);
  std::vector<uint16_t> a(af.size()), b(bf.size());
  for (size_t i = 0; i < af.size(); ++i) a[i] = to_bits16(af[i], p);
  for (size_t i = 0; i < bf.size(); ++i) b[i] = to_bits16(bf[i], p);
  DeviceBuffer<uint16_t> da(a), db(b);
  DeviceBuffer<float> out(128 * N / 2);
  launch_kernel(wgmma_kernel<N, kBf16>, 1, 128, 0, nullptr, v, da.data(), db.data(), out.data());
  DICE_CUDA_CHECK_LAUNCH();
  const std::vector<float> got = out.download();
  const int kUsed = v == Variant::kInterleave ? 16 : kK;
  int bad = 0;
  for (int t = 0; t < 128; ++t)
    for (int i = 0; i < N / 2; ++i) {
      // The ISA's D fragment: warp w rows 16 w .., lane l row l / 4 (+ 8), columns 8 j + 2 (l % 4).
      const int w = t / 32, l = t % 32, j = i / 4, e = i % 4;
      const int row = 16 * w + l / 4 + 8 * (e / 2), col = 8 * j + 2 * (l % 4) + e % 2;
      double want = 0.0;
      for (int k = 0; k < kUsed; ++k)
        want += from_bits16(a[static_cast<size_t>(row * kK + k)], p) *
                from_bits16(b[static_cast<size_t>(col * kK + k)], p);
      const float g = got[static_cast<size_t>(t * (N / 2) + i)];
      if (!(std::fabs(g - want) <= 1e-5 * (1.0 + std::fabs(want))) && ++bad <= 5)
        ADD_FAILURE() << "thread " << t << " d[" << i << "] (row " << row << ", col " << col
                      << "): got " << g << " want " << want;
    }
  EXPECT_EQ(bad, 0);
}

TEST(CudaEmuWgmma, Swizzle64KMajorProduct) {
  check_product<128, false>(Variant::kSw64);
  check_product<64, true>(Variant::kSw64);
}

TEST(CudaEmuWgmma, CoreMatrixLayoutProduct) { check_product<64, false>(Variant::kInterleave); }


TEST(CudaEmuWgmma, AccumulatorsAreUndefinedUntilTheWait) {
  DeviceBuffer<uint16_t> a(std::vector<uint16_t>(64 * kK, 0x3C00)), b(std::vector<uint16_t>(64 * kK, 0x3C00));
  DeviceBuffer<float> out(128 * 32);
  launch_kernel(wgmma_kernel<64, false>, 1, 128, 0, nullptr, Variant::kEarlyRead, a.data(), b.data(),
                out.data());
  const std::vector<float> got = out.download();
  for (int t = 0; t < 128; ++t) EXPECT_TRUE(std::isnan(got[static_cast<size_t>(t * 32)])) << t;
}

// A swizzle atom 256 bytes off a 512-byte boundary: the hardware XORs by the absolute address, so
// the rows come out permuted; the product must be wrong.
TEST(CudaEmuWgmma, MisalignedSwizzleAtomGivesAnotherProduct) {
  const std::vector<float> af = test::random_floats(64 * kK, 7, -1.0f, 1.0f);
  std::vector<uint16_t> a(af.size());
  for (size_t i = 0; i < af.size(); ++i) a[i] = to_bits16(af[i], Precision::kFp16);
  DeviceBuffer<uint16_t> da(a), db(a);
  DeviceBuffer<float> ok(128 * 32), off(128 * 32);
  launch_kernel(wgmma_kernel<64, false>, 1, 128, 0, nullptr, Variant::kSw64, da.data(), db.data(), ok.data());
  launch_kernel(wgmma_kernel<64, false>, 1, 128, 0, nullptr, Variant::kMisaligned, da.data(), db.data(),
                off.data());
  EXPECT_NE(ok.download(), off.download());
}

// cp.async into an operand, waited for, but no fence.proxy.async before the wgmma reads it.
__global__ void unfenced_cp_async_kernel(const uint16_t* src, float* out, bool fence) {
  DICE_SHARED_ALIGNED(uint16_t, sm, [128 * 32], 1024);
  const int t = static_cast<int>(threadIdx.x);
  for (int i = t; i < 128 * 32 / 8; i += 128) ptx::cp_async_cg(sm + 8 * i, src + 8 * i);
  ptx::cp_async_wait_all();
  if (fence) ptx::fence_proxy_async();
  __syncthreads();
  float d[32];
  for (float& x : d) x = 0.0f;
  ptx::wgmma_fence();
  ptx::wgmma_m64k16<64, false>(d, ptx::wgmma_desc_k_sw64(sm), ptx::wgmma_desc_k_sw64(sm + 64 * 32), 1);
  ptx::wgmma_commit_group();
  ptx::wgmma_wait_group<0>();
  out[t] = d[0];
}

__global__ void no_wait_kernel(const uint16_t*, float* out, bool) {
  DICE_SHARED_ALIGNED(uint16_t, sm, [128 * 32], 1024);
  const int t = static_cast<int>(threadIdx.x);
  for (int i = t; i < 128 * 32; i += 128) sm[i] = 0;
  __syncthreads();
  float d[32];
  ptx::wgmma_fence();
  ptx::wgmma_m64k16<64, false>(d, ptx::wgmma_desc_k_sw64(sm), ptx::wgmma_desc_k_sw64(sm + 64 * 32), 0);
  ptx::wgmma_commit_group();
  out[t] = 0.0f;
}

TEST(CudaEmuWgmma, ProxyFenceMakesCpAsyncDataReadable) {
  DeviceBuffer<uint16_t> src(std::vector<uint16_t>(128 * 32, 0x3C00));
  DeviceBuffer<float> out(128);
  launch_kernel(unfenced_cp_async_kernel, 1, 128, 0, nullptr, src.data(), out.data(), true);
  DICE_CUDA_CHECK_LAUNCH();
  EXPECT_EQ(out.download()[0], 16.0f);  // 16 products of 1 x 1
}

TEST(CudaEmuWgmmaDeathTest, MisuseStopsTheProgram) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  DeviceBuffer<uint16_t> src(std::vector<uint16_t>(128 * 32, 0x3C00));
  DeviceBuffer<float> out(128 * 64);
  EXPECT_DEATH(launch_kernel(unfenced_cp_async_kernel, 1, 128, 0, nullptr, src.data(), out.data(), false),
               "without fence.proxy.async");
  EXPECT_DEATH(launch_kernel(wgmma_kernel<64, false>, 1, 128, 0, nullptr, Variant::kNoFence, src.data(),
                             src.data(), out.data()),
               "without a wgmma.fence");
  EXPECT_DEATH(launch_kernel(no_wait_kernel, 1, 128, 0, nullptr, src.data(), out.data(), false),
               "not waited for");
  EXPECT_DEATH(launch_kernel(wgmma_kernel<64, false>, 1, 128, 0, nullptr, Variant::kRefillBeforeWait,
                             src.data(), src.data(), out.data()),
               "changed between its issue and its wait");
  EXPECT_DEATH(launch_kernel(wgmma_kernel<64, false>, 1, 96, 0, nullptr, Variant::kSw64, src.data(),
                             src.data(), out.data()),
               "not a multiple of 128");
}

}  // namespace
}  // namespace dice
