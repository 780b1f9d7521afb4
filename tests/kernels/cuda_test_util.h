// Helpers shared by the CUDA kernel tests (conv2d, pool, head): skipping without a GPU, random
// inputs, and the poison pattern. Outputs are filled with all-ones bytes before a run (a NaN no
// kernel computes), so an element a kernel must not touch can be checked bit for bit.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "gpu/cuda_check.h"
#include "test_util.h"


namespace dice::test {

// n floats drawn uniformly from [lo, hi).
inline std::vector<float> random_vector(int64_t n, std::mt19937& rng, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

// Whether x still holds the poison (0xFFFFFFFF) written before the run.
inline bool is_poison(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return bits == 0xFFFFFFFFu;
}

}  // namespace dice::test
