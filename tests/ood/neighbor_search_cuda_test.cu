// top_k_neighbors_cuda against the CPU search: the same neighbours for every query, across query
// and bank chunk borders and a feature count that is not a multiple of the 16-wide tile, with and
// without the distance bias. Skipped without a GPU (runs on cuda_emu: scripts/emulate.sh).
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "ood/neighbor_search.h"
#include "ood/neighbor_search_cuda.h"
#include "test_util.h"

namespace {

TEST(NeighborSearchCuda, SameNeighboursAsCpuAcrossChunks) {
  DICE_REQUIRE_GPU();
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<float> u(-1, 1);
  const int64_t nq = 37, nb = 100, dim = 19;
  std::vector<float> q(nq * dim), b(nb * dim), bias(nb);
  for (float& v : q) v = u(rng);
  for (float& v : b) v = u(rng);
  for (float& v : bias) v = u(rng);
  for (int64_t k : {1, 7, 100}) {
    const float* with_bias = bias.data();
    for (const float* bi : {static_cast<const float*>(nullptr), with_bias}) {
      const std::vector<int32_t> cpu = dice::top_k_neighbors(q.data(), nq, b.data(), nb, dim, bi, k);
      const std::vector<int32_t> gpu =
          dice::top_k_neighbors_cuda(q.data(), nq, b.data(), nb, dim, bi, k, 16, 48);
      ASSERT_EQ(gpu.size(), cpu.size());
      for (int64_t i = 0; i < nq; ++i) {
        std::vector<int32_t> a(cpu.begin() + i * k, cpu.begin() + (i + 1) * k);
        std::vector<int32_t> g(gpu.begin() + i * k, gpu.begin() + (i + 1) * k);
        std::sort(a.begin(), a.end());
        std::sort(g.begin(), g.end());
        EXPECT_EQ(g, a) << "query " << i << ", k " << k << (bi ? ", with bias" : "");
      }
    }
  }
}

}  // namespace
