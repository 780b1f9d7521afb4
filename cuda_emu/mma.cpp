// cuda_emu's tensor cores: mma.sync.aligned.m16n8k16 (.f16, .bf16) and .m16n8k8 (.tf32), row.col,
// f32 accumulators, and the ldmatrix that feeds them from shared memory, as warp collectives.
//
// The fragment layouts are transcribed here directly from the PTX ISA ("Matrix Fragments for
// mma.m16n8k16 with floating point type" and "for mma.m16n8k8", .tf32), deliberately not taken from
// kernels/mma_fragments.h, so that a kernel whose fragments disagree with the ISA computes the
// wrong product here just as it would on a GPU. groupID = laneid >> 2, threadID_in_group =
// laneid % 4:
//   m16n8k16 A: ai for i in 0..7 (two per .b32 register, low half first)
//                 row = groupID + 8 * (i in {2,3,6,7}), col = 2 * tig + (i & 1) + 8 * (i >= 4)
//            B: bi for i in 0..3: row (k) = 2 * tig + (i & 1) + 8 * (i >= 2), col (n) = groupID
//   m16n8k8 .tf32 A: ai for i in 0..3: row = groupID + 8 * (i in {1,3}), col = tig + 4 * (i >= 2)
//                 B: bi for i in 0..1: row (k) = tig + 4 * i, col (n) = groupID
//   C, D (f32, both shapes): ci for i in 0..3: row = groupID + 8 * (i >= 2), col = 2 * tig + (i & 1)
// Arithmetic: the operands are exact in float (a tf32 operand is its register with the low 13 bits
// ignored, as the hardware does), each product is exact in double, and D = sum + C is rounded once;
// hardware may truncate partial sums, so kernels are tested with a K-dependent tolerance anyway.
//
// ldmatrix.sync.aligned.m8n8.{x1,x2,x4}{.trans}.shared.b16, transcribed from the PTX ISA 9.0,
// section 9.7.14.5.15 "Warp-level matrix load instruction: ldmatrix" (its address table and
// Figure 104, "ldmatrix fragment layout for one 8x8 Matrix with 16-bit elements"): matrix i of
// .num (i < 1, 2 or 4) has its 8 rows of 16 bytes at the addresses held by lanes 8 * i .. 8 * i + 7
// (row r by lane 8 * i + r; the other lanes' addresses are ignored), and register r[i] of lane l
// receives, low half first,
//   without .trans: row groupID, columns 2 * tig and 2 * tig + 1 (four lanes hold one row),
//   with .trans (the matrix read column-major): column groupID of rows 2 * tig and 2 * tig + 1,
// with groupID = l >> 2 and tig = l % 4 as above. Rows must be 16-byte aligned, in shared memory.
#include <cstdlib>
#include <cstring>

#include <cuda_runtime.h>

#include "cuda_emu/internal.h"
#include "formats/half.h"  // the exact 16-bit -> float decoders the weight readers use

namespace dice::emu {
namespace {

enum class Type { kF16, kBf16, kTf32 };

struct MmaIn {
  const uint32_t* a;
  const uint32_t* b;
  const float* c;
};

float tf32_value(uint32_t r) {
  const uint32_t bits = r & 0xFFFFE000u;
  float v;
  std::memcpy(&v, &bits, 4);
  return v;
}

// Element i of a 16-bit operand held in registers regs[].
float half_element(const uint32_t* regs, int i, Type t) {
  const uint16_t h = static_cast<uint16_t>(regs[i / 2] >> (16 * (i & 1)));
  return t == Type::kF16 ? half_to_float(h) : bf16_to_float(h);
}

template <Type T>
void mma_op(const void* const* in, void* const* out, int lanes) {
  if (lanes != 32) std::abort();  // mma.sync needs the full warp; the runner checked the mask
  constexpr int K = T == Type::kTf32 ? 8 : 16;
  float A[16][K], B[K][8], C[16][8];
  for (int lane = 0; lane < 32; ++lane) {
    const auto* p = static_cast<const MmaIn*>(in[lane]);
    const int g = lane >> 2, t = lane % 4;
    if (T == Type::kTf32) {
      for (int i = 0; i < 4; ++i)
        A[g + ((i == 1 || i == 3) ? 8 : 0)][t + (i >= 2 ? 4 : 0)] = tf32_value(p->a[i]);
      for (int i = 0; i < 2; ++i) B[t + 4 * i][g] = tf32_value(p->b[i]);
    } else {
      for (int i = 0; i < 8; ++i) {
        const bool lower = i == 2 || i == 3 || i == 6 || i == 7;
        A[g + (lower ? 8 : 0)][2 * t + (i & 1) + (i >= 4 ? 8 : 0)] = half_element(p->a, i, T);
      }
      for (int i = 0; i < 4; ++i)
        B[2 * t + (i & 1) + (i >= 2 ? 8 : 0)][g] = half_element(p->b, i, T);
    }
    for (int i = 0; i < 4; ++i) C[g + (i >= 2 ? 8 : 0)][2 * t + (i & 1)] = p->c[i];
  }
  for (int lane = 0; lane < 32; ++lane) {
    float* d = static_cast<float*>(out[lane]);
    const int g = lane >> 2, t = lane % 4;
    for (int i = 0; i < 4; ++i) {
      const int row = g + (i >= 2 ? 8 : 0), col = 2 * t + (i & 1);
      double sum = 0.0;
      for (int k = 0; k < K; ++k)
        sum += static_cast<double>(A[row][k]) * static_cast<double>(B[k][col]);
      d[i] = static_cast<float>(sum + static_cast<double>(C[row][col]));
    }
  }
}

template <Type T>
void mma(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  const float c[4] = {d[0], d[1], d[2], d[3]};
  const MmaIn in{a, b, c};
  warp_collective(&mma_op<T>, 0xFFFFFFFFu, &in, d);
}

// Each lane's ldmatrix row address; lanes 0 .. 8 * kNum - 1 have checked theirs.
template <int kNum, bool kTrans>
void ldmatrix_op(const void* const* in, void* const* out, int lanes) {
  if (lanes != 32) std::abort();  // the runner checked the warp is whole
  uint16_t m[kNum][8][8];         // [matrix][row][column] as stored
  for (int i = 0; i < kNum; ++i)
    for (int r = 0; r < 8; ++r)
      std::memcpy(m[i][r], *static_cast<const void* const*>(in[8 * i + r]), 16);
  for (int lane = 0; lane < 32; ++lane) {
    uint32_t* d = static_cast<uint32_t*>(out[lane]);
    const int g = lane >> 2, t = lane % 4;
    for (int i = 0; i < kNum; ++i) {
      const uint16_t lo = kTrans ? m[i][2 * t][g] : m[i][g][2 * t];
      const uint16_t hi = kTrans ? m[i][2 * t + 1][g] : m[i][g][2 * t + 1];
      d[i] = uint32_t{lo} | uint32_t{hi} << 16;
    }
  }
}

template <int kNum>
WarpOp ldmatrix_op_for(bool trans) {
  return trans ? &ldmatrix_op<kNum, true> : &ldmatrix_op<kNum, false>;
}

}  // namespace

void ldmatrix(uint32_t* r, int num, bool trans, const void* row) {
  if (num != 1 && num != 2 && num != 4) die_in_kernel("ldmatrix: .num must be .x1, .x2 or .x4");
  if (lane_id() < 8 * num) {  // this lane's address is one of the rows
    if (reinterpret_cast<uintptr_t>(row) % 16 != 0)
      die_in_kernel("ldmatrix: a row address is not 16-byte aligned");
    if (!in_shared_memory(row, 16))
      die_in_kernel("ldmatrix: a row address is not inside the block's shared memory");
  }
  const WarpOp op = num == 1   ? ldmatrix_op_for<1>(trans)
                    : num == 2 ? ldmatrix_op_for<2>(trans)
                               : ldmatrix_op_for<4>(trans);
  // The operands live on this fiber's stack until the collective completes.
  const void* const address = row;
  warp_collective(op, 0xFFFFFFFFu, &address, r);
}

void mma_m16n8k16_f16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  mma<Type::kF16>(d, a, b);
}
void mma_m16n8k16_bf16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  mma<Type::kBf16>(d, a, b);
}
void mma_m16n8k8_tf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  mma<Type::kTf32>(d, a, b);
}

uint32_t cvt_rna_tf32(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  if ((bits & 0x7F800000u) == 0x7F800000u) return bits;  // inf and NaN unchanged
  // Adding half a unit of the 10th mantissa bit to the magnitude, then truncating, rounds ties
  // away from zero; a carry into the exponent is the correct rounding up to the next binade.
  return (bits + 0x1000u) & 0xFFFFE000u;
}

}  // namespace dice::emu
