// kernels/mma_fragments.h, on the host (no GPU needed): the lane -> (row, col) maps that conv2d_tc
// uses to read mma.sync operands from shared memory and to store its accumulators. Each map must
// cover its tile exactly once; the two elements of a 16-bit register must be K-neighbours (the
// kernel loads them as one 32-bit word from K-contiguous rows); and spot values are checked against
// the PTX ISA's tables, written out by hand here rather than derived from the same formulas.
// Also: the warp tiling of conv2d_tc (8 warps of 2 x 4 mma tiles) covers the 64 x 128 block tile.
#include <gtest/gtest.h>

#include <vector>

#include "kernels/conv2d_tc.h"
#include "kernels/mma_fragments.h"

namespace dice::mma {
namespace {

// Calls map(lane, i) for every lane and element and counts hits per (row, col) of a rows x cols
// tile; every cell must be hit exactly once.
template <typename Map>
void expect_bijection(Map map, int elements, int rows, int cols, const char* what) {
  std::vector<int> hits(static_cast<size_t>(rows * cols), 0);
  for (int lane = 0; lane < 32; ++lane)
    for (int i = 0; i < elements; ++i) {
      const RowCol rc = map(lane, i);
      ASSERT_GE(rc.row, 0) << what;
      ASSERT_LT(rc.row, rows) << what;
      ASSERT_GE(rc.col, 0) << what;
      ASSERT_LT(rc.col, cols) << what;
      ++hits[static_cast<size_t>(rc.row * cols + rc.col)];
    }
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c)
      EXPECT_EQ(hits[static_cast<size_t>(r * cols + c)], 1) << what << " cell (" << r << ", " << c << ")";
}

TEST(MmaFragments, EveryMapCoversItsTileOnce) {
  expect_bijection(a_m16n8k16, 8, 16, 16, "m16n8k16 A");
  expect_bijection(b_m16n8k16, 4, 16, 8, "m16n8k16 B");
  expect_bijection(a_m16n8k8_tf32, 4, 16, 8, "m16n8k8 tf32 A");
  expect_bijection(b_m16n8k8_tf32, 2, 8, 8, "m16n8k8 tf32 B");
  expect_bijection(c_m16n8, 4, 16, 8, "f32 accumulator");
}

TEST(MmaFragments, SixteenBitPairsAreKNeighbours) {
  for (int lane = 0; lane < 32; ++lane) {
    for (int r = 0; r < 4; ++r) {  // A: K is the column
      const RowCol lo = a_m16n8k16(lane, 2 * r), hi = a_m16n8k16(lane, 2 * r + 1);
      EXPECT_EQ(hi.row, lo.row);
      EXPECT_EQ(hi.col, lo.col + 1);
      EXPECT_EQ(lo.col % 2, 0) << "a 32-bit load needs an even K";
    }
    for (int r = 0; r < 2; ++r) {  // B: K is the row
      const RowCol lo = b_m16n8k16(lane, 2 * r), hi = b_m16n8k16(lane, 2 * r + 1);
      EXPECT_EQ(hi.col, lo.col);
      EXPECT_EQ(hi.row, lo.row + 1);
      EXPECT_EQ(lo.row % 2, 0);
    }
  }
}

// Values read off the PTX ISA figures (groupID g = lane >> 2, threadID_in_group t = lane % 4).
TEST(MmaFragments, SpotValuesFromThePtxTables) {
  // m16n8k16 A, lane 5 (g = 1, t = 1): a0 (1, 2), a1 (1, 3), a2 (9, 2), a3 (9, 3), a4 (1, 10),
  // a5 (1, 11), a6 (9, 10), a7 (9, 11).
  const RowCol a16[8] = {{1, 2}, {1, 3}, {9, 2}, {9, 3}, {1, 10}, {1, 11}, {9, 10}, {9, 11}};
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(a_m16n8k16(5, i).row, a16[i].row) << "a" << i;
    EXPECT_EQ(a_m16n8k16(5, i).col, a16[i].col) << "a" << i;
  }
  // m16n8k16 B, lane 30 (g = 7, t = 2): b0 (k 4, n 7), b1 (5, 7), b2 (12, 7), b3 (13, 7).
  const RowCol b16[4] = {{4, 7}, {5, 7}, {12, 7}, {13, 7}};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(b_m16n8k16(30, i).row, b16[i].row) << "b" << i;
    EXPECT_EQ(b_m16n8k16(30, i).col, b16[i].col) << "b" << i;
  }
  // m16n8k8 tf32 A, lane 6 (g = 1, t = 2): a0 (1, 2), a1 (9, 2), a2 (1, 6), a3 (9, 6).
  const RowCol a8[4] = {{1, 2}, {9, 2}, {1, 6}, {9, 6}};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(a_m16n8k8_tf32(6, i).row, a8[i].row) << "tf32 a" << i;
    EXPECT_EQ(a_m16n8k8_tf32(6, i).col, a8[i].col) << "tf32 a" << i;
  }
  // m16n8k8 tf32 B, lane 13 (g = 3, t = 1): b0 (k 1, n 3), b1 (k 5, n 3).
  EXPECT_EQ(b_m16n8k8_tf32(13, 0).row, 1);
  EXPECT_EQ(b_m16n8k8_tf32(13, 0).col, 3);
  EXPECT_EQ(b_m16n8k8_tf32(13, 1).row, 5);
  EXPECT_EQ(b_m16n8k8_tf32(13, 1).col, 3);
  // Accumulator, lane 31 (g = 7, t = 3): c0 (7, 6), c1 (7, 7), c2 (15, 6), c3 (15, 7).
  const RowCol c[4] = {{7, 6}, {7, 7}, {15, 6}, {15, 7}};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(c_m16n8(31, i).row, c[i].row) << "c" << i;
    EXPECT_EQ(c_m16n8(31, i).col, c[i].col) << "c" << i;
  }
}

// The block tiling of conv2d_tc.cu, replayed: warp w owns rows (w % 2) * 32 + i * 16 + c.row and
// columns (w / 2) * 32 + j * 8 + c.col for i < 2, j < 4; together the 8 warps' accumulators must
// cover the 64 x 128 block tile exactly once (the epilogue writes each output once).
TEST(MmaFragments, WarpTilingCoversTheBlockTile) {
  constexpr int kM = Conv2dTcTile::kM, kN = Conv2dTcTile::kN;
  std::vector<int> hits(kM * kN, 0);
  for (int warp = 0; warp < 8; ++warp) {
    const int wm = (warp % 2) * 32, wn = (warp / 2) * 32;
    for (int lane = 0; lane < 32; ++lane)
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 4; ++j)
          for (int e = 0; e < 4; ++e) {
            const RowCol rc = c_m16n8(lane, e);
            ++hits[(wm + i * 16 + rc.row) * kN + wn + j * 8 + rc.col];
          }
  }
  for (int h : hits) ASSERT_EQ(h, 1);
}

}  // namespace
}  // namespace dice::mma
