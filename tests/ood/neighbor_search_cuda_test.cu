// top_k_neighbors_cuda against the CPU search: the same neighbours for every query, across query
// and bank chunk borders and a feature count that is not a multiple of the 16-wide tile, with and
// without the distance bias. Skipped without a GPU (runs on cuda_emu: scripts/emulate.sh).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ood/neighbor_search.h"
#include "ood/neighbor_search_cuda.h"
#include "posthoc_fixture.h"

namespace {

TEST(NeighborSearchCuda, SameNeighboursAsCpuAcrossChunks) {
  DICE_REQUIRE_GPU();
  const dice::test::SearchCase c(37, 100, 19, 11);  // 16-query, 48-row chunks below; 19 = 16 + 3
  for (int64_t k : {1, 7, 100}) {
    for (const float* bi : {static_cast<const float*>(nullptr), c.bias.data()}) {
      dice::test::expect_same_neighbours(
          dice::top_k_neighbors_cuda(c.q.data(), c.nq, c.b.data(), c.nb, c.dim, bi, k, 16, 48),
          dice::top_k_neighbors(c.q.data(), c.nq, c.b.data(), c.nb, c.dim, bi, k), c.nq, k,
          "k " + std::to_string(k) + (bi ? ", with bias" : ""));
    }
  }
}

}  // namespace
