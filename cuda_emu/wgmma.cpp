// cuda_emu's Hopper warpgroup MMA: wgmma.fence, wgmma.mma_async.sync.aligned.m64nNk16.f32.{f16,
// bf16}.{f16,bf16} with A and B in shared memory, wgmma.commit_group and wgmma.wait_group, as
// warpgroup collectives (128 threads), transcribed from the PTX ISA 9.0, section 9.7.15
// ("Asynchronous Warpgroup Level Matrix Multiply-Accumulate"), independently of any kernel:
//
// Matrix descriptor (9.7.15.5.1.2.2): bits 0-13 start address >> 4, 16-29 leading dimension byte
// offset >> 4, 32-45 stride dimension byte offset >> 4, 49-51 base offset, 62-63 swizzle (0 none,
// 1 128-byte, 2 64-byte, 3 32-byte). Only K-major operands (imm-trans 0) are emulated, base offset 0.
// Element (row r, k) of a K-major 16-bit operand (r < 64 for A, r < N for B; k < 16):
//   no swizzle: 8x16-byte core matrices: start + (r / 8) SBO + (r % 8) 16 + (k / 8) LBO + (k % 8) 2
//   W-byte swizzle (W = 32, 64, 128): rows of W bytes in atoms of 8 rows, atoms SBO apart:
//     a = start + (r / 8) SBO + (r % 8) W + 2 k, then the 16-byte chunk bits of the .shared
//     address are XORed with the bits above bit 7: a ^= ((a >> 7) & (W / 16 - 1)) << 4
//   (LBO is unused there). Addresses are .shared addresses, so the swizzle follows the absolute
//   address: an atom that does not start at a multiple of 8 W bytes reads other elements.
// Accumulator D (9.7.15.5.1.1.1, m64nNk16, .f32): thread t of the warpgroup (warp w = t / 32,
// lane l) holds N / 2 floats; d[4 j + e] is row 16 w + l / 4 + 8 (e / 2), column 8 j + 2 (l % 4)
// + (e % 2). D = A B + (scale-d ? D : 0).
// Asynchrony (9.7.15.6-7): mma_async may read its operands and write its accumulators at any time
// until the wgmma.wait_group that covers its commit group; the accumulator registers must not be
// touched meanwhile, and wgmma.fence must separate the threads' own register accesses from the
// mma_async that uses those registers. The emulation is the latest completion the ISA allows: at
// the issue each accumulator array is saved and filled with NaN; the operation runs at the wait
// and writes the result back; the operands are read at the issue and again at the wait, and must
// not differ. So a kernel that reads accumulators early gets NaN, and one that refills a stage an
// outstanding wgmma still reads, or lets a wgmma read a stage whose cp.async has not landed
// (poison until its wait), is stopped. Stopped with a message: an mma_async with no wgmma.fence since the warpgroup's last
// wait (or the kernel's start); operands outside shared memory, or holding bytes a cp.async wrote
// without the writer's fence.proxy.async since (generic-proxy writes seen by the async proxy);
// threads of a warpgroup disagreeing on operands; a block ending with wgmma not waited for.
// Arithmetic as mma.sync's (mma.cpp): exact products, the K sum plus D in double, rounded once.
#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include "cuda_emu/internal.h"
#include "formats/half.h"

namespace dice::emu {
namespace {

constexpr uint64_t kUncommitted = ~uint64_t{0};

struct MmaArgs {
  float* d;
  int n;
  uint64_t desc_a, desc_b;
  bool bf16, scale_d;
};

// The accumulators of one thread's array while operations on it are pending.
struct Shadow {
  float* d;
  int floats;
  std::vector<float> v;
  int pending = 0;
};

struct Op {
  MmaArgs args;  // thread 0's; the others agree but for d
  std::array<int, 128> shadow;  // per thread, into Group::shadows
  uint64_t group = kUncommitted;
  std::vector<uint16_t> operands;  // A then B as they were at the issue
};

struct Group {
  bool fenced = false;
  uint64_t committed = 0;
  std::vector<Op> ops;
  std::vector<Shadow> shadows;
};

thread_local std::vector<Group> t_groups;

// The .shared address of element (r, k) of a K-major 16-bit operand described by `desc`.
uint32_t element_address(uint64_t desc, int r, int k) {
  const uint32_t start = static_cast<uint32_t>(desc & 0x3FFF) << 4;
  const uint32_t lbo = static_cast<uint32_t>((desc >> 16) & 0x3FFF) << 4;
  const uint32_t sbo = static_cast<uint32_t>((desc >> 32) & 0x3FFF) << 4;
  const int mode = static_cast<int>(desc >> 62);
  const uint32_t ur = static_cast<uint32_t>(r), uk = static_cast<uint32_t>(k);
  if (mode == 0) return start + ur / 8 * sbo + ur % 8 * 16 + uk / 8 * lbo + uk % 8 * 2;
  const uint32_t width = mode == 1 ? 128 : mode == 2 ? 64 : 32;
  const uint32_t a = start + ur / 8 * sbo + ur % 8 * width + 2 * uk;
  return a ^ (((a >> 7) & (width / 16 - 1)) << 4);
}

// The bits of element (r, k) of an operand, read from shared memory now.
uint16_t element_bits(uint64_t desc, int r, int k) {
  const char* p = shared_at_window(element_address(desc, r, k), 2);
  if (p == nullptr) die_in_kernel("wgmma: an operand element lies outside the block's shared memory");
  uint16_t h;
  std::memcpy(&h, p, 2);
  return h;
}

// A (64 x 16) then B (n x 16), row by row, as shared memory holds them now.
std::vector<uint16_t> read_operands(const MmaArgs& a) {
  std::vector<uint16_t> v;
  v.reserve(static_cast<size_t>(64 + a.n) * 16);
  for (int r = 0; r < 64; ++r)
    for (int k = 0; k < 16; ++k) v.push_back(element_bits(a.desc_a, r, k));
  for (int c = 0; c < a.n; ++c)
    for (int k = 0; k < 16; ++k) v.push_back(element_bits(a.desc_b, c, k));
  return v;
}

// Checks an operand of `rows` x 16 elements: in shared memory, and no unfenced cp.async bytes.
void check_operand(uint64_t desc, int rows, const char* which) {
  if (((desc >> 49) & 7) != 0) die_in_kernel("wgmma: a descriptor base offset other than 0 is not emulated");
  for (int r = 0; r < rows; ++r)
    for (int k = 0; k < 16; k += 8) {  // 8 elements = 16 contiguous bytes in every layout
      const char* p = shared_at_window(element_address(desc, r, k), 16);
      if (p == nullptr) {
        std::string what = std::string("wgmma: operand ") + which + " lies outside the block's shared memory";
        die_in_kernel(what.c_str());
      }
      if (unfenced_shared_write(p, 16))
        die_in_kernel("wgmma reads shared memory that a cp.async wrote without fence.proxy.async after it");
    }
}

void run(Group& g, const Op& op) {
  const MmaArgs& a = op.args;
  // The hardware may read the operands at any moment from the issue to the wait: they must not
  // change in between (a stage refilled too early, or read before its cp.async landed).
  const std::vector<uint16_t> now = read_operands(a);
  if (now != op.operands)
    die_in_kernel("shared memory under an outstanding wgmma changed between its issue and its wait "
                  "(a stage refilled too early, or read before its data landed)");
  auto value = [&](size_t i) { return a.bf16 ? bf16_to_float(now[i]) : half_to_float(now[i]); };
  std::vector<double> A(64 * 16), B(static_cast<size_t>(a.n) * 16);
  for (size_t i = 0; i < A.size(); ++i) A[i] = value(i);
  for (size_t i = 0; i < B.size(); ++i) B[i] = value(A.size() + i);
  for (int t = 0; t < 128; ++t) {
    Shadow& s = g.shadows[static_cast<size_t>(op.shadow[static_cast<size_t>(t)])];
    const int w = t / 32, l = t % 32;
    for (int i = 0; i < a.n / 2; ++i) {
      const int j = i / 4, e = i % 4;
      const int row = 16 * w + l / 4 + 8 * (e / 2), col = 8 * j + 2 * (l % 4) + e % 2;
      double sum = a.scale_d ? s.v[static_cast<size_t>(i)] : 0.0;
      for (int k = 0; k < 16; ++k)
        sum += A[static_cast<size_t>(row * 16 + k)] * B[static_cast<size_t>(col * 16 + k)];
      s.v[static_cast<size_t>(i)] = static_cast<float>(sum);
    }
    --s.pending;
  }
}

void fence_op(const void* const*, void* const*, int group) {
  t_groups[static_cast<size_t>(group)].fenced = true;
}

void mma_op(const void* const* in, void* const*, int group) {
  Group& g = t_groups[static_cast<size_t>(group)];
  const MmaArgs& a0 = *static_cast<const MmaArgs*>(in[0]);
  for (int t = 1; t < 128; ++t) {
    const MmaArgs& a = *static_cast<const MmaArgs*>(in[t]);
    if (a.n != a0.n || a.desc_a != a0.desc_a || a.desc_b != a0.desc_b || a.bf16 != a0.bf16 ||
        a.scale_d != a0.scale_d)
      die_in_kernel("wgmma.mma_async: the threads of a warpgroup pass different operands");
  }
  if (a0.n < 8 || a0.n > 256 || a0.n % 8 != 0) die_in_kernel("wgmma.mma_async: N must be 8 .. 256, a multiple of 8");
  if (!g.fenced)
    die_in_kernel("wgmma.mma_async without a wgmma.fence since the warpgroup's last wgmma.wait_group");
  check_operand(a0.desc_a, 64, "A");
  check_operand(a0.desc_b, a0.n, "B");
  Op op;
  op.args = a0;
  op.operands = read_operands(a0);
  for (int t = 0; t < 128; ++t) {
    float* d = static_cast<const MmaArgs*>(in[t])->d;
    int found = -1;
    for (size_t i = 0; i < g.shadows.size(); ++i)
      if (g.shadows[i].d == d) found = static_cast<int>(i);
    if (found >= 0 && g.shadows[static_cast<size_t>(found)].floats != a0.n / 2)
      die_in_kernel("wgmma.mma_async: an accumulator array reused with another N while pending");
    if (found < 0) {  // first pending operation on this array: save it, then poison the registers
      Shadow s;
      s.d = d;
      s.floats = a0.n / 2;
      s.v.assign(d, d + s.floats);
      std::fill(d, d + s.floats, std::numeric_limits<float>::quiet_NaN());
      g.shadows.push_back(std::move(s));
      found = static_cast<int>(g.shadows.size() - 1);
    }
    ++g.shadows[static_cast<size_t>(found)].pending;
    op.shadow[static_cast<size_t>(t)] = found;
  }
  g.ops.push_back(op);
}

void commit_op(const void* const*, void* const*, int group) {
  Group& g = t_groups[static_cast<size_t>(group)];
  for (Op& op : g.ops)
    if (op.group == kUncommitted) op.group = g.committed;
  ++g.committed;
}

void wait_op(const void* const* in, void* const*, int group) {
  Group& g = t_groups[static_cast<size_t>(group)];
  const int pending = *static_cast<const int*>(in[0]);
  for (int t = 1; t < 128; ++t)
    if (*static_cast<const int*>(in[t]) != pending)
      die_in_kernel("wgmma.wait_group: the threads of a warpgroup wait for different counts");
  if (pending < 0) die_in_kernel("wgmma.wait_group: N must not be negative");
  const uint64_t n = static_cast<uint64_t>(pending);
  const uint64_t done_below = g.committed > n ? g.committed - n : 0;
  std::vector<Op> rest;
  for (const Op& op : g.ops) {
    if (op.group != kUncommitted && op.group < done_below)
      run(g, op);
    else
      rest.push_back(op);
  }
  g.ops.swap(rest);
  // Arrays with nothing pending get their values back; the others stay poisoned.
  std::vector<Shadow> kept;
  std::vector<int> remap(g.shadows.size(), -1);
  for (size_t i = 0; i < g.shadows.size(); ++i) {
    Shadow& s = g.shadows[i];
    if (s.pending == 0) {
      std::copy(s.v.begin(), s.v.end(), s.d);
    } else {
      remap[i] = static_cast<int>(kept.size());
      kept.push_back(std::move(s));
    }
  }
  for (Op& op : g.ops)
    for (int& idx : op.shadow) idx = remap[static_cast<size_t>(idx)];
  g.shadows.swap(kept);
  g.fenced = false;  // the threads may touch their registers now: the next mma_async needs a fence
}

}  // namespace

void wgmma_block_start(int groups) {
  t_groups.assign(static_cast<size_t>(groups), Group{});
}

void wgmma_block_end() {
  for (const Group& g : t_groups)
    if (!g.ops.empty()) {
      std::fprintf(stderr, "cuda_emu: a block ended with wgmma.mma_async not waited for (wgmma.wait_group)\n");
      std::abort();
    }
}

void wgmma_fence() { warpgroup_collective(&fence_op, nullptr, nullptr); }

void wgmma_mma(float* d, int n, uint64_t desc_a, uint64_t desc_b, bool bf16, bool scale_d) {
  const MmaArgs a{d, n, desc_a, desc_b, bf16, scale_d};
  warpgroup_collective(&mma_op, &a, nullptr);
}

void wgmma_commit_group() { warpgroup_collective(&commit_op, nullptr, nullptr); }

void wgmma_wait_group(int pending) { warpgroup_collective(&wait_op, &pending, nullptr); }

}  // namespace dice::emu
