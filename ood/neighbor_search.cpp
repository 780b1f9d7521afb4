// Tiled top-k search (neighbor_search.h).
#include "ood/neighbor_search.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "core/error.h"
#include "core/parallel.h"

namespace dice {
namespace {

constexpr int kQueryBlock = 4;  // queries per pass over a panel: 4 x kBankTile accumulators

using Entry = std::pair<float, int32_t>;  // (similarity, bank index)

// Min-heap order: the worst kept entry on top; on equal similarity the higher index is worse.
bool worse_first(const Entry& a, const Entry& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

void offer(std::vector<Entry>& heap, int64_t k, float s, int32_t idx) {
  if (static_cast<int64_t>(heap.size()) < k) {
    heap.emplace_back(s, idx);
    std::push_heap(heap.begin(), heap.end(), worse_first);
  } else if (s > heap.front().first) {
    std::pop_heap(heap.begin(), heap.end(), worse_first);
    heap.back() = {s, idx};
    std::push_heap(heap.begin(), heap.end(), worse_first);
  }
}

}  // namespace

// One chunk of queries per thread; for each bank tile: transpose, then kQueryBlock queries at a
// time accumulate their similarities to the whole tile.
std::vector<int32_t> top_k_neighbors(const float* queries, int64_t nq, const float* bank,
                                     int64_t nb, int64_t dim, const float* bias, int64_t k) {
  DICE_ASSERT(k >= 1 && k <= nb && dim >= 1);
  std::vector<int32_t> out(static_cast<size_t>(nq * k));
  parallel_for(nq, [&](int64_t begin, int64_t end) {
    std::vector<float> panel(static_cast<size_t>(dim * kBankTile));
    std::vector<float> acc(static_cast<size_t>(kQueryBlock * kBankTile));
    std::vector<std::vector<Entry>> heaps(static_cast<size_t>(end - begin));
    for (auto& h : heaps) h.reserve(static_cast<size_t>(k));
    for (int64_t b0 = 0; b0 < nb; b0 += kBankTile) {
      const int64_t nt = std::min(kBankTile, nb - b0);
      for (int64_t j = 0; j < nt; ++j)
        for (int64_t d = 0; d < dim; ++d) panel[d * kBankTile + j] = bank[(b0 + j) * dim + d];
      for (int64_t q0 = begin; q0 < end; q0 += kQueryBlock) {
        const int64_t nqb = std::min<int64_t>(kQueryBlock, end - q0);
        float* a0 = acc.data();
        float* a1 = a0 + kBankTile;
        float* a2 = a1 + kBankTile;
        float* a3 = a2 + kBankTile;
        std::fill(acc.begin(), acc.end(), 0.0f);
        const float* r0 = queries + q0 * dim;
        const float* r1 = nqb > 1 ? r0 + dim : r0;
        const float* r2 = nqb > 2 ? r0 + 2 * dim : r0;
        const float* r3 = nqb > 3 ? r0 + 3 * dim : r0;
        for (int64_t d = 0; d < dim; ++d) {
          const float* p = panel.data() + d * kBankTile;
          const float v0 = r0[d], v1 = r1[d], v2 = r2[d], v3 = r3[d];
          for (int64_t j = 0; j < kBankTile; ++j) {
            a0[j] += v0 * p[j];
            a1[j] += v1 * p[j];
            a2[j] += v2 * p[j];
            a3[j] += v3 * p[j];
          }
        }
        for (int64_t q = 0; q < nqb; ++q) {
          std::vector<Entry>& heap = heaps[static_cast<size_t>(q0 + q - begin)];
          const float* a = acc.data() + q * kBankTile;
          for (int64_t j = 0; j < nt; ++j)
            offer(heap, k, bias ? a[j] + bias[b0 + j] : a[j], static_cast<int32_t>(b0 + j));
        }
      }
    }
    for (int64_t q = begin; q < end; ++q) {
      const std::vector<Entry>& heap = heaps[static_cast<size_t>(q - begin)];
      for (int64_t i = 0; i < k; ++i) out[q * k + i] = heap[static_cast<size_t>(i)].second;
    }
  });
  return out;
}

}  // namespace dice
