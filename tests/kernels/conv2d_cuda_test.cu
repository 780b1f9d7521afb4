// conv2d_cuda against conv2d_naive (the spec) on the real DenseNet-BC-100 layer shapes, ResNet-50
// style shapes and odd sizes chosen to cut every tile boundary (K not a multiple of 16, pixels not
// a multiple of 64, out_channels just above 16/32/64). Each case reads a channel slice of a wider
// input and writes a channel slice of a wider, NaN-poisoned output, as DenseNet's concatenation
// by construction does, and checks both the slice (normalized error < 1e-5) and that every
// element outside it is still the poison. Skipped without a GPU, except the argument checks,
// which run before any CUDA call.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/conv2d_cuda.h"
#include "kernels/conv_shapes.h"
#include "cuda_test_util.h"
#include "gpu/cuda_check.h"
#include "gpu/cuda_memory.h"
#include "test_util.h"

namespace dice {
namespace {

using test::random_vector;
using test::is_poison;

struct ConvCase {
  const char* name;
  int64_t batch, in_channels, height, width, out_channels, kernel, stride, pad;
  int64_t in_total_channels;   // the input buffer's channels per image (>= in_channels)
  int64_t out_total_channels;  // the output buffer's channels per image (>= out_channels)
  int64_t out_offset;          // first output channel written
  bool in_bn, bias, out_bn, residual, relu;
};

void PrintTo(const ConvCase& c, std::ostream* os) { *os << c.name; }

// clang-format off
const ConvCase kOtherCases[] = {
  // ResNet-50 style: 7x7/2 stem with folded BN + ReLU, strided 1x1 downsample, 3x3 with residual.
  {"resnet_stem_7x7s2",      2,   3, 45, 37,  64, 7, 2, 3,   3,  64,   0, false, false, true,  false, true},
  {"resnet_down_1x1s2",      2,  64, 15, 15, 128, 1, 2, 0,  64, 128,   0, false, false, true,  false, false},
  {"resnet_3x3_residual",    2,  32, 13, 11,  40, 3, 1, 1,  32,  40,   0, false, true,  true,  true,  true},
  // Odd sizes: every fusion at once, tile edges in M, N and K, kernels 1/3/5, strides 1/2/3.
  {"odd_3x3s2_all_fusions",  3,   5,  9, 11,   7, 3, 2, 1,   6,   9,   1, true,  true,  true,  true,  true},
  {"odd_5x5s3",              2,   3, 14, 14,  17, 5, 3, 2,   3,  17,   0, true,  true,  false, false, false},
  {"odd_1x1_pad1",           2,   4,  5,  6,  33, 1, 1, 1,   4,  35,   2, true,  true,  true,  false, true},
  {"odd_1x1_single",         1,   1,  1,  1,   1, 1, 1, 0,   1,   1,   0, false, false, false, false, false},
  {"odd_m65_n_tail",         5, 19, 17, 13,  65, 3, 1, 1,  21,  66,   1, true,  false, true,  true,  false},
  {"odd_2x2s2",              2,  7, 10,  8,  31, 2, 2, 0,   7,  31,   0, true,  true,  false, false, true},
};
// clang-format on

// The DenseNet-BC-100 convolutions as the network runs them (kernels/conv_shapes.h), at batch 3,
// each reading and writing its channel slice of the block buffers; then the cases above.
std::vector<ConvCase> all_cases() {
  static std::vector<std::string> names;  // owns the "densenet_" names the cases point to
  std::vector<ConvCase> cases;
  names.reserve(std::size(kDenseNet101ConvShapes));
  for (const DenseNetConvShape& d : kDenseNet101ConvShapes) {
    const ConvShape2d& s = d.shape;
    names.push_back(std::string("densenet_") + s.name);
    cases.push_back({names.back().c_str(), 3, s.in_channels, s.height, s.width, s.out_channels,
                     s.kernel, s.stride, s.pad, d.in_buffer_channels, d.out_buffer_channels,
                     d.out_offset, d.bn_relu_prologue, false, false, false, false});
  }
  cases.insert(cases.end(), std::begin(kOtherCases), std::end(kOtherCases));
  return cases;
}

class Conv2dCuda : public ::testing::TestWithParam<ConvCase> {};

TEST_P(Conv2dCuda, MatchesNaive) {
  DICE_REQUIRE_GPU();
  const ConvCase& c = GetParam();
  Conv2dParams p;
  p.batch = c.batch;
  p.in_channels = c.in_channels;
  p.height = c.height;
  p.width = c.width;
  p.out_channels = c.out_channels;
  p.kernel = c.kernel;
  p.stride = c.stride;
  p.pad = c.pad;
  const int64_t hw = c.height * c.width, ohw = p.out_height() * p.out_width();
  p.in_batch_stride = c.in_total_channels * hw;
  p.out_batch_stride = c.out_total_channels * ohw;
  ASSERT_TRUE(conv2d_cuda_unsupported(p).empty()) << conv2d_cuda_unsupported(p);

  std::mt19937 rng(1234);
  const int64_t in_size = c.batch * p.in_batch_stride;
  const int64_t out_size = c.batch * p.out_batch_stride;
  const int64_t out_off = c.out_offset * ohw;  // the output slice starts here
  const auto in = random_vector(in_size, rng, -1.0f, 1.0f);
  const auto weight =
      random_vector(c.out_channels * c.in_channels * c.kernel * c.kernel, rng, -0.5f, 0.5f);
  const auto in_scale = random_vector(c.in_channels, rng, 0.5f, 1.5f);
  const auto in_shift = random_vector(c.in_channels, rng, -0.5f, 0.5f);
  const auto bias = random_vector(c.out_channels, rng, -0.5f, 0.5f);
  const auto out_scale = random_vector(c.out_channels, rng, 0.5f, 1.5f);
  const auto out_shift = random_vector(c.out_channels, rng, -0.5f, 0.5f);
  const auto residual = random_vector(out_size, rng, -1.0f, 1.0f);

  // CPU reference into a NaN-filled buffer of the same layout.
  std::vector<float> ref(static_cast<size_t>(out_size), std::nanf(""));
  ConvFusion cf;
  if (c.in_bn) cf.in_scale = in_scale.data(), cf.in_shift = in_shift.data();
  if (c.bias) cf.bias = bias.data();
  if (c.out_bn) cf.out_scale = out_scale.data(), cf.out_shift = out_shift.data();
  if (c.residual) cf.residual = residual.data() + out_off;
  cf.out_relu = c.relu;
  conv2d_naive(p, in.data(), weight.data(), ref.data() + out_off, cf);

  DeviceBuffer<float> d_in(in), d_weight(weight), d_in_scale(in_scale), d_in_shift(in_shift),
      d_bias(bias), d_out_scale(out_scale), d_out_shift(out_shift), d_residual(residual),
      d_out(out_size);
  ConvFusion gf;
  if (c.in_bn) gf.in_scale = d_in_scale.data(), gf.in_shift = d_in_shift.data();
  if (c.bias) gf.bias = d_bias.data();
  if (c.out_bn) gf.out_scale = d_out_scale.data(), gf.out_shift = d_out_shift.data();
  if (c.residual) gf.residual = d_residual.data() + out_off;
  gf.out_relu = c.relu;

  Stream stream;
  for (int run = 0; run < 2; ++run) {  // the second run checks nothing depends on leftover state
    d_out.poison();
    conv2d_cuda(p, d_in.data(), d_weight.data(), d_out.data() + out_off, gf, stream);
    stream.synchronize();
    const std::vector<float> got = d_out.download();

    std::vector<float> got_slice, ref_slice;
    int64_t clobbered = 0;
    for (int64_t n = 0; n < c.batch; ++n)
      for (int64_t ch = 0; ch < c.out_total_channels; ++ch)
        for (int64_t i = 0; i < ohw; ++i) {
          const int64_t idx = n * p.out_batch_stride + ch * ohw + i;
          if (ch >= c.out_offset && ch < c.out_offset + c.out_channels) {
            got_slice.push_back(got[idx]);
            ref_slice.push_back(ref[idx]);
          } else if (!is_poison(got[idx])) {
            ++clobbered;
          }
        }
    EXPECT_EQ(clobbered, 0) << "conv2d_cuda wrote outside its output channel slice";
    const double err = test::normalized_error(got_slice.data(), ref_slice.data(),
                                              static_cast<int64_t>(ref_slice.size()), 1e-5, c.name);
    EXPECT_LT(err, 1e-5) << c.name << " run " << run;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, Conv2dCuda, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<ConvCase>& info) {
                           return std::string(info.param.name);
                         });

// Argument checks happen before any CUDA call, so they run without a GPU too.
TEST(Conv2dCudaArgs, RejectsBadShapes) {
  Conv2dParams p;
  p.batch = 2, p.in_channels = 3, p.height = 4, p.width = 4, p.out_channels = 5;
  p.kernel = 3, p.stride = 1, p.pad = 1;
  EXPECT_TRUE(conv2d_cuda_unsupported(p).empty());

  Conv2dParams too_big = p;
  too_big.kernel = 7, too_big.pad = 0;  // 7x7 does not fit 4x4
  EXPECT_FALSE(conv2d_cuda_unsupported(too_big).empty());
  EXPECT_THROW(conv2d_cuda(too_big, nullptr, nullptr, nullptr), Error);

  Conv2dParams narrow = p;
  narrow.in_batch_stride = 3 * 16 - 1;  // smaller than one image
  EXPECT_THROW(conv2d_cuda(narrow, nullptr, nullptr, nullptr), Error);

  ConvFusion half;
  float dummy = 0;
  half.in_scale = &dummy;  // scale without shift
  EXPECT_THROW(conv2d_cuda(p, nullptr, nullptr, nullptr, half), Error);

  Conv2dParams empty = p;
  empty.batch = 0;  // nothing to do: returns without touching the device
  EXPECT_NO_THROW(conv2d_cuda(empty, nullptr, nullptr, nullptr));
}

}  // namespace
}  // namespace dice
