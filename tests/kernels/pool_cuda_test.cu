// The CUDA pooling ops against their CPU versions: DenseNet's transition pool (2x2/2 of
// relu(bn(x)), written into the first channels of the next block's buffer) and head pool (global
// average of relu(bn(x)) over 8x8), ResNet's 3x3/2 max pool and 7x7 global pool, and odd sizes
// with padding. Outputs are NaN-poisoned before each run; elements outside an output slice must
// stay poisoned. Skipped without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "cuda_test_util.h"
#include "gpu/cuda_check.h"
#include "gpu/cuda_memory.h"
#include "kernels/pool.h"
#include "kernels/pool_cuda.h"
#include "test_util.h"

namespace dice {
namespace {

using test::random_vector;
using test::is_poison;

struct PoolCase {
  const char* name;
  int64_t batch, channels, height, width, kernel, stride, pad;
  int64_t in_total_channels, out_total_channels;  // buffer widths (channel slices)
  bool bn, max;
};

void PrintTo(const PoolCase& c, std::ostream* os) { *os << c.name; }

// clang-format off
const PoolCase kCases[] = {
  {"densenet_trans1_avg",  3, 108, 32, 32, 2, 2, 0, 108, 300, true,  false},
  {"densenet_trans2_avg",  3, 150, 16, 16, 2, 2, 0, 150, 342, true,  false},
  {"resnet_stem_max",      2,  64, 23, 17, 3, 2, 1,  64,  64, false, true},
  {"odd_avg_3x3s2_pad1",   2,   5,  7,  9, 3, 2, 1,   7,   6, true,  false},
  {"odd_avg_3x3s1_pad1",   1,   3,  5,  4, 3, 1, 1,   3,   3, false, false},
  {"odd_max_2x2s1",        3,   7,  6,  5, 2, 1, 0,   8,   9, false, true},
  {"odd_avg_1x1_single",   1,   1,  1,  1, 1, 1, 0,   1,   1, true,  false},
};
// clang-format on

class PoolCuda : public ::testing::TestWithParam<PoolCase> {};

TEST_P(PoolCuda, MatchesCpu) {
  DICE_REQUIRE_GPU();
  const PoolCase& c = GetParam();
  Pool2dParams p;
  p.batch = c.batch;
  p.channels = c.channels;
  p.height = c.height;
  p.width = c.width;
  p.kernel = c.kernel;
  p.stride = c.stride;
  p.pad = c.pad;
  const int64_t hw = c.height * c.width, ohw = p.out_height() * p.out_width();
  p.in_batch_stride = c.in_total_channels * hw;
  p.out_batch_stride = c.out_total_channels * ohw;
  const int64_t in_size = c.batch * p.in_batch_stride, out_size = c.batch * p.out_batch_stride;

  std::mt19937 rng(99);
  const auto in = random_vector(in_size, rng, -2.0f, 2.0f);
  const auto scale = random_vector(c.channels, rng, 0.5f, 1.5f);
  const auto shift = random_vector(c.channels, rng, -0.5f, 0.5f);
  std::vector<float> ref(static_cast<size_t>(out_size), std::nanf(""));
  if (c.max)
    max_pool2d_cpu(p, in.data(), ref.data());
  else
    avg_pool2d_cpu(p, in.data(), ref.data(), c.bn ? scale.data() : nullptr,
                   c.bn ? shift.data() : nullptr);

  DeviceBuffer<float> d_in(in), d_scale(scale), d_shift(shift), d_out(out_size);
  d_out.poison();
  if (c.max)
    max_pool2d_cuda(p, d_in.data(), d_out.data());
  else
    avg_pool2d_cuda(p, d_in.data(), d_out.data(), c.bn ? d_scale.data() : nullptr,
                    c.bn ? d_shift.data() : nullptr);
  DICE_CUDA_CHECK(cudaDeviceSynchronize());
  const std::vector<float> got = d_out.download();

  std::vector<float> got_slice, ref_slice;
  int64_t clobbered = 0;
  for (int64_t n = 0; n < c.batch; ++n)
    for (int64_t ch = 0; ch < c.out_total_channels; ++ch)
      for (int64_t i = 0; i < ohw; ++i) {
        const int64_t idx = n * p.out_batch_stride + ch * ohw + i;
        if (ch < c.channels) {
          got_slice.push_back(got[idx]);
          ref_slice.push_back(ref[idx]);
        } else if (!is_poison(got[idx])) {
          ++clobbered;
        }
      }
  EXPECT_EQ(clobbered, 0) << "wrote outside the output channel slice";
  EXPECT_LT(test::normalized_error(got_slice.data(), ref_slice.data(),
                                   static_cast<int64_t>(ref_slice.size()), 1e-5, c.name),
            1e-5);
}

INSTANTIATE_TEST_SUITE_P(Shapes, PoolCuda, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<PoolCase>& info) {
                           return std::string(info.param.name);
                         });

struct GapCase {
  const char* name;
  int64_t batch, channels, hw, in_total_channels;
  bool bn;
};

void PrintTo(const GapCase& c, std::ostream* os) { *os << c.name; }

const GapCase kGapCases[] = {
    {"densenet_head", 5, 342, 64, 342, true},
    {"resnet_head", 2, 2048, 49, 2048, false},
    {"odd_slice", 3, 7, 33, 9, true},
    {"odd_single", 1, 1, 1, 1, false},
};

class GlobalAvgPoolCuda : public ::testing::TestWithParam<GapCase> {};

TEST_P(GlobalAvgPoolCuda, MatchesCpu) {
  DICE_REQUIRE_GPU();
  const GapCase& c = GetParam();
  const int64_t stride = c.in_total_channels * c.hw;
  const int64_t out_size = c.batch * c.channels;
  std::mt19937 rng(7);
  const auto in = random_vector(c.batch * stride, rng, -2.0f, 2.0f);
  const auto scale = random_vector(c.channels, rng, 0.5f, 1.5f);
  const auto shift = random_vector(c.channels, rng, -0.5f, 0.5f);
  std::vector<float> ref(static_cast<size_t>(out_size));
  global_avg_pool_cpu(c.batch, c.channels, c.hw, in.data(), ref.data(),
                      c.bn ? scale.data() : nullptr, c.bn ? shift.data() : nullptr, stride);

  DeviceBuffer<float> d_in(in), d_scale(scale), d_shift(shift), d_out(out_size);
  d_out.poison();
  global_avg_pool_cuda(c.batch, c.channels, c.hw, d_in.data(), d_out.data(),
                       c.bn ? d_scale.data() : nullptr, c.bn ? d_shift.data() : nullptr, stride);
  DICE_CUDA_CHECK(cudaDeviceSynchronize());
  const std::vector<float> got = d_out.download();
  EXPECT_LT(test::normalized_error(got.data(), ref.data(), out_size, 1e-5, c.name), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Shapes, GlobalAvgPoolCuda, ::testing::ValuesIn(kGapCases),
                         [](const ::testing::TestParamInfo<GapCase>& info) {
                           return std::string(info.param.name);
                         });

TEST(PoolCudaArgs, RejectsBadShapes) {
  Pool2dParams p;
  p.batch = 1, p.channels = 2, p.height = 3, p.width = 3, p.kernel = 5, p.stride = 1, p.pad = 0;
  EXPECT_THROW(avg_pool2d_cuda(p, nullptr, nullptr), Error);  // window larger than the input
  EXPECT_THROW(global_avg_pool_cuda(1, 0, 4, nullptr, nullptr), Error);
}

}  // namespace
}  // namespace dice
