// Exact k-nearest-neighbour search for KNN and NNGuide, in bounded memory: the query x bank
// similarity matrix is never materialised. Each thread takes a contiguous range of queries and
// walks the bank in tiles of kBankTile rows, transposing each tile once into a [dim][tile] panel
// so the inner loop runs over bank rows (independent accumulators, vectorisable without
// reassociation), and keeps a running top-k (a min-heap of k entries) per query.
// Memory: the bank itself, one panel (dim x kBankTile floats) per thread, k entries per query.
// The search is in float32 (as faiss's flat indexes are); callers recompute the k winners' exact
// values in double, so only the choice of neighbours at a near-tie can depend on float rounding.
#pragma once
#include <cstdint>
#include <vector>

namespace dice {

constexpr int64_t kBankTile = 256;

// For every query row q, the indices of the k bank rows b with the largest q . b + bias[b]
// (bias may be null: plain inner product; -|b|^2 / 2 ranks by Euclidean distance), in no
// particular order: [nq][k]. Requires 1 <= k <= nb.
std::vector<int32_t> top_k_neighbors(const float* queries, int64_t nq, const float* bank,
                                     int64_t nb, int64_t dim, const float* bias, int64_t k);

}  // namespace dice
