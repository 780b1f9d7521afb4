// The GPU half of top_k_neighbors_cuda (neighbor_search_cuda.h): a shared-memory tiled inner
// product, out[q][j] = queries[q] . bank[j], for a chunk of queries and a chunk of bank rows.
// Each 16 x 16 block loads a 16 x 16 tile of the queries and of the bank per step of 16 features
// into shared memory and accumulates its 256 outputs in float, feature by feature (the CPU search
// accumulates in the same order; nvcc may fuse the multiply-add, so the float similarities can
// differ in the last bit, which only matters for neighbours tied to that bit; the callers
// recompute the winners' values in double). The top-k stays on the host (RunningTopK).
#include <algorithm>
#include <climits>

#include "core/error.h"
#include "gpu/cuda_check.h"
#include "gpu/cuda_launch.h"
#include "gpu/cuda_memory.h"
#include "ood/neighbor_search.h"
#include "ood/neighbor_search_cuda.h"

namespace dice {
namespace {

constexpr int kTile = 16;

// One block per 16 x 16 tile of the output; one thread per output element.
__global__ void __launch_bounds__(kTile * kTile)
    inner_product_tile_kernel(int nq, int nb, int dim, const float* __restrict__ queries,
                              const float* __restrict__ bank, float* __restrict__ out) {
  DICE_SHARED(float, qs, [kTile][kTile + 1]);
  DICE_SHARED(float, bs, [kTile][kTile + 1]);
  const int tx = static_cast<int>(threadIdx.x), ty = static_cast<int>(threadIdx.y);
  const int q = static_cast<int>(blockIdx.y) * kTile + ty;
  const int j = static_cast<int>(blockIdx.x) * kTile + tx;
  const int qload = static_cast<int>(blockIdx.y) * kTile + ty;  // row this thread loads
  const int bload = static_cast<int>(blockIdx.x) * kTile + ty;
  float acc = 0.0f;
  for (int d0 = 0; d0 < dim; d0 += kTile) {
    const int d = d0 + tx;
    qs[ty][tx] = qload < nq && d < dim ? queries[static_cast<int64_t>(qload) * dim + d] : 0.0f;
    bs[ty][tx] = bload < nb && d < dim ? bank[static_cast<int64_t>(bload) * dim + d] : 0.0f;
    __syncthreads();
    const int steps = dim - d0 < kTile ? dim - d0 : kTile;
    for (int t = 0; t < steps; ++t) acc += qs[ty][t] * bs[tx][t];
    __syncthreads();
  }
  if (q < nq && j < nb) out[static_cast<int64_t>(q) * nb + j] = acc;
}

}  // namespace

std::vector<int32_t> top_k_neighbors_cuda(const float* queries, int64_t nq, const float* bank,
                                          int64_t nb, int64_t dim, const float* bias, int64_t k,
                                          int64_t query_chunk, int64_t bank_chunk) {
  DICE_ASSERT(k >= 1 && k <= nb && dim >= 1 && query_chunk >= 1 && bank_chunk >= 1);
  if (nb > INT_MAX || dim > INT_MAX)
    throw_error("top_k_neighbors_cuda: a bank of ", nb, " x ", dim, " exceeds the kernel's int sizes");
  std::vector<int32_t> out(static_cast<size_t>(nq * k));
  if (nq == 0) return out;
  DeviceBuffer<float> d_bank(nb * dim);
  copy_to_device(d_bank.data(), bank, nb * dim);
  const int64_t qc = std::min(nq, query_chunk), bc = std::min(nb, bank_chunk);
  DeviceBuffer<float> d_queries(qc * dim), d_tile(qc * bc);
  std::vector<float> tile(static_cast<size_t>(qc * bc));
  RunningTopK top(nq, k);
  for (int64_t q0 = 0; q0 < nq; q0 += qc) {
    const int64_t nqc = std::min(qc, nq - q0);
    copy_to_device(d_queries.data(), queries + q0 * dim, nqc * dim);
    for (int64_t b0 = 0; b0 < nb; b0 += bc) {
      const int64_t nbc = std::min(bc, nb - b0);
      const dim3 grid(static_cast<unsigned>((nbc + kTile - 1) / kTile),
                      static_cast<unsigned>((nqc + kTile - 1) / kTile));
      launch_kernel(inner_product_tile_kernel, grid, dim3(kTile, kTile), 0, nullptr,
                    static_cast<int>(nqc), static_cast<int>(nbc), static_cast<int>(dim),
                    d_queries.data(), d_bank.data() + b0 * dim, d_tile.data());
      DICE_CUDA_CHECK_LAUNCH();
      copy_to_host(tile.data(), d_tile.data(), nqc * nbc);
      DICE_CUDA_CHECK(cudaStreamSynchronize(nullptr));
      top.offer_tile(q0, nqc, tile.data(), nbc, b0, nbc, bias);
    }
  }
  for (int64_t q = 0; q < nq; ++q) top.winners(q, out.data() + q * k);
  return out;
}

}  // namespace dice
