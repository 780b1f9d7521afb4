// cuda_emu's tensor cores: mma.sync.aligned.m16n8k16 (.f16, .bf16) and .m16n8k8 (.tf32), row.col,
// f32 accumulators, as warp collectives.
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
#include <cstdlib>
#include <cstring>

#include <cuda_runtime.h>

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

}  // namespace

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
