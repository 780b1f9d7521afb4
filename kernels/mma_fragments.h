// Where each element of an mma.sync operand lives: lane and register slot -> (row, col) of the
// warp-level tile, for the two tensor-core shapes conv2d_tc uses. Written once here, used by the
// kernel (kernels/conv2d_tc.cu) to read shared memory and to store its accumulators, and by a host
// test (tests/kernels/mma_fragments_test.cpp) that checks every mapping covers its tile exactly
// once, that the 16-bit pairs sit side by side along K, and spot values read off the PTX ISA
// ("Matrix Fragments for mma.m16n8k16 with floating point type" and "for mma.m16n8k8", .tf32).
//
// In every shape: groupID g = lane >> 2, threadID_in_group t = lane % 4.
//   m16n8k16 .f16/.bf16  A (16x16, row-major), 8 elements a0..a7 in four .b32 registers, register r
//                        holding a(2r) in its low half and a(2r+1) in its high half:
//                          row = g (+8 for a2,a3,a6,a7), col = 2t + (i & 1) (+8 for a4..a7)
//                        B (16x8, "col": K runs down a column), b0..b3 in two registers:
//                          row(k) = 2t + (i & 1) (+8 for b2,b3), col(n) = g
//   m16n8k8  .tf32       A (16x8), a0..a3, one per register:
//                          row = g (+8 for a1,a3), col = t (+4 for a2,a3)
//                        B (8x8), b0,b1: row(k) = t (+4 for b1), col(n) = g
//   both, f32 C/D (16x8) c0..c3: row = g (+8 for c2,c3), col = 2t + (i & 1)
// Plain C++ (constexpr, no CUDA types) so that the CPU-only build compiles and tests it too.
#pragma once

#if defined(__CUDACC__)
#define DICE_HOST_DEVICE __host__ __device__
#else
#define DICE_HOST_DEVICE
#endif

namespace dice::mma {

struct RowCol {
  int row, col;
};

// m16n8k16, f16/bf16 A operand: element i in 0..7 of `lane`.
DICE_HOST_DEVICE constexpr RowCol a_m16n8k16(int lane, int i) {
  return RowCol{(lane >> 2) + ((i & 2) ? 8 : 0), (lane % 4) * 2 + (i & 1) + ((i & 4) ? 8 : 0)};
}
// m16n8k16, f16/bf16 B operand: element i in 0..3; row is the K index, col the N index.
DICE_HOST_DEVICE constexpr RowCol b_m16n8k16(int lane, int i) {
  return RowCol{(lane % 4) * 2 + (i & 1) + ((i & 2) ? 8 : 0), lane >> 2};
}
// m16n8k8, tf32 A operand: element (= register) i in 0..3.
DICE_HOST_DEVICE constexpr RowCol a_m16n8k8_tf32(int lane, int i) {
  return RowCol{(lane >> 2) + ((i & 1) ? 8 : 0), (lane % 4) + ((i & 2) ? 4 : 0)};
}
// m16n8k8, tf32 B operand: element (= register) i in 0..1; row is K, col is N.
DICE_HOST_DEVICE constexpr RowCol b_m16n8k8_tf32(int lane, int i) {
  return RowCol{(lane % 4) + (i ? 4 : 0), lane >> 2};
}
// f32 accumulator of both shapes (16x8): element i in 0..3.
DICE_HOST_DEVICE constexpr RowCol c_m16n8(int lane, int i) {
  return RowCol{(lane >> 2) + ((i & 2) ? 8 : 0), (lane % 4) * 2 + (i & 1)};
}

}  // namespace dice::mma
