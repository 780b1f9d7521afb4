// Tiled top-k search (neighbor_search.h).
#include "ood/neighbor_search.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "core/error.h"
#include "core/parallel.h"
#include "kernels/gemm_cpu.h"

namespace dice {
namespace {

constexpr int kQueryBlock = 4;  // queries per pass over a panel: 4 x kBankTile accumulators

using Entry = std::pair<float, int32_t>;  // (similarity, bank index)

// Min-heap order: the worst kept entry on top; on equal similarity the higher index is worse.
bool worse_first(const Entry& a, const Entry& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

// acc[q][j] = sum_d rows[q][d] * panel[d][j] for kQueryBlock query rows and one panel.
// Inlined into one generic and one AVX2 copy (picked at run time, as kernels/gemm_cpu.h does),
// so the j loop is vectorised 4 or 8 wide; its order of summation is the same in both.
__attribute__((always_inline)) inline void block_dots(const float* const* rows, const float* panel,
                                                      int64_t dim, float* __restrict acc) {
  float* __restrict a0 = acc;
  float* __restrict a1 = a0 + kBankTile;
  float* __restrict a2 = a1 + kBankTile;
  float* __restrict a3 = a2 + kBankTile;
  for (int64_t j = 0; j < kQueryBlock * kBankTile; ++j) acc[j] = 0.0f;
  for (int64_t d = 0; d < dim; ++d) {
    const float* __restrict p = panel + d * kBankTile;
    const float v0 = rows[0][d], v1 = rows[1][d], v2 = rows[2][d], v3 = rows[3][d];
    for (int64_t j = 0; j < kBankTile; ++j) {
      a0[j] += v0 * p[j];
      a1[j] += v1 * p[j];
      a2[j] += v2 * p[j];
      a3[j] += v3 * p[j];
    }
  }
}

void block_dots_generic(const float* const* rows, const float* panel, int64_t dim, float* acc) {
  block_dots(rows, panel, dim, acc);
}

__attribute__((target("avx2"))) void block_dots_avx2(const float* const* rows, const float* panel,
                                                    int64_t dim, float* acc) {
  block_dots(rows, panel, dim, acc);
}

}  // namespace

RunningTopK::RunningTopK(int64_t queries, int64_t k) : k_(k), heaps_(static_cast<size_t>(queries)) {
  for (auto& h : heaps_) h.reserve(static_cast<size_t>(k));
}

void RunningTopK::offer(std::vector<Entry>& heap, float s, int32_t idx) {
  if (static_cast<int64_t>(heap.size()) < k_) {
    heap.emplace_back(s, idx);
    std::push_heap(heap.begin(), heap.end(), worse_first);
  } else if (s > heap.front().first) {
    std::pop_heap(heap.begin(), heap.end(), worse_first);
    heap.back() = {s, idx};
    std::push_heap(heap.begin(), heap.end(), worse_first);
  }
}

void RunningTopK::offer_tile(int64_t q0, int64_t nq, const float* sims, int64_t ld, int64_t b0,
                             int64_t nt, const float* bias) {
  for (int64_t q = 0; q < nq; ++q) {
    std::vector<Entry>& heap = heaps_[static_cast<size_t>(q0 + q)];
    const float* a = sims + q * ld;
    for (int64_t j = 0; j < nt; ++j)
      offer(heap, bias ? a[j] + bias[b0 + j] : a[j], static_cast<int32_t>(b0 + j));
  }
}

void RunningTopK::winners(int64_t q, int32_t* out) const {
  const std::vector<Entry>& heap = heaps_[static_cast<size_t>(q)];
  DICE_ASSERT(static_cast<int64_t>(heap.size()) == k_);
  for (int64_t i = 0; i < k_; ++i) out[i] = heap[static_cast<size_t>(i)].second;
}

// One chunk of queries per thread; for each bank tile: transpose, then kQueryBlock queries at a
// time accumulate their similarities to the whole tile.
std::vector<int32_t> top_k_neighbors(const float* queries, int64_t nq, const float* bank,
                                     int64_t nb, int64_t dim, const float* bias, int64_t k) {
  DICE_ASSERT(k >= 1 && k <= nb && dim >= 1);
  std::vector<int32_t> out(static_cast<size_t>(nq * k));
  const auto dots = cpu_isa_supported(CpuIsa::kAvx2) ? block_dots_avx2 : block_dots_generic;
  parallel_for(nq, [&](int64_t begin, int64_t end) {
    std::vector<float> panel(static_cast<size_t>(dim * kBankTile));
    std::vector<float> acc(static_cast<size_t>(kQueryBlock * kBankTile));
    RunningTopK top(end - begin, k);
    for (int64_t b0 = 0; b0 < nb; b0 += kBankTile) {
      const int64_t nt = std::min(kBankTile, nb - b0);
      for (int64_t j = 0; j < nt; ++j)
        for (int64_t d = 0; d < dim; ++d) panel[d * kBankTile + j] = bank[(b0 + j) * dim + d];
      for (int64_t q0 = begin; q0 < end; q0 += kQueryBlock) {
        const int64_t nqb = std::min<int64_t>(kQueryBlock, end - q0);
        const float* r0 = queries + q0 * dim;
        const float* rows[kQueryBlock];
        for (int64_t q = 0; q < kQueryBlock; ++q) rows[q] = q < nqb ? r0 + q * dim : r0;
        dots(rows, panel.data(), dim, acc.data());
        top.offer_tile(q0 - begin, nqb, acc.data(), kBankTile, b0, nt, bias);
      }
    }
    for (int64_t q = begin; q < end; ++q) top.winners(q - begin, out.data() + q * k);
  });
  return out;
}

}  // namespace dice
