// Exact k-nearest-neighbour search for KNN and NNGuide, in bounded memory: the query x bank
// similarity matrix is never materialised. Each thread takes a contiguous range of queries and
// walks the bank in tiles of kBankTile rows, transposing each tile once into a [dim][tile] panel
// so the inner loop runs over bank rows (independent accumulators, vectorisable without
// reassociation), and keeps a running top-k (a min-heap of k entries) per query.
// Memory: the bank itself, one panel (dim x kBankTile floats) per thread, k entries per query.
// The search is in float32 (as faiss's flat indexes are); callers recompute the k winners' exact
// values in double, so only the choice of neighbours at a near-tie can depend on float rounding.
// top_k_neighbors_cuda (neighbor_search_cuda.h) computes the similarity tiles on the GPU and
// merges them into the same running top-k.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

namespace dice {

constexpr int64_t kBankTile = 256;

// For every query row q, the indices of the k bank rows b with the largest q . b + bias[b]
// (bias may be null: plain inner product; -|b|^2 / 2 ranks by Euclidean distance), in no
// particular order: [nq][k]. Requires 1 <= k <= nb.
std::vector<int32_t> top_k_neighbors(const float* queries, int64_t nq, const float* bank,
                                     int64_t nb, int64_t dim, const float* bias, int64_t k);

// The running top-k of a range of queries: offer similarities tile by tile, then read the
// winners. A min-heap of k (similarity, bank index) entries per query; on equal similarity the
// lower index is kept.
class RunningTopK {
 public:
  RunningTopK(int64_t queries, int64_t k);
  // sims[q][j] (row stride ld) for queries q0.., bank rows b0..b0+nt, plus bias[b0 + j] if set.
  void offer_tile(int64_t q0, int64_t nq, const float* sims, int64_t ld, int64_t b0, int64_t nt,
                  const float* bias);
  // The k winners of query q (of this range), in no particular order, into out[0..k).
  void winners(int64_t q, int32_t* out) const;

 private:
  using Entry = std::pair<float, int32_t>;
  void offer(std::vector<Entry>& heap, float s, int32_t idx);
  int64_t k_;
  std::vector<std::vector<Entry>> heaps_;
};

}  // namespace dice
