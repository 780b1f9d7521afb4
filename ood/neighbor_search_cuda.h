// top_k_neighbors_cuda: top_k_neighbors (neighbor_search.h) with the similarity tiles computed on
// the GPU: the bank is uploaded once, a tiled kernel computes query-block x bank-chunk inner
// products, and each chunk's tile is copied back and merged into the same running top-k on the
// host. Device memory: the bank, the queries and one kQueryChunk x kBankChunk tile; host memory:
// one tile and k entries per query. Host pointers in and out.
// Without DICE_HAVE_CUDA this header declares nothing.
#pragma once
#ifdef DICE_HAVE_CUDA
#include <cstdint>
#include <vector>

namespace dice {

constexpr int64_t kQueryChunk = 1024, kBankChunk = 8192;

// The chunk sizes are parameters so that tests can cross chunk borders with small sets.
std::vector<int32_t> top_k_neighbors_cuda(const float* queries, int64_t nq, const float* bank,
                                          int64_t nb, int64_t dim, const float* bias, int64_t k,
                                          int64_t query_chunk = kQueryChunk,
                                          int64_t bank_chunk = kBankChunk);

}  // namespace dice

#endif  // DICE_HAVE_CUDA
