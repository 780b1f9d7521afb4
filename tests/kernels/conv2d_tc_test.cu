// conv2d_tc (tensor cores: tf32, fp16, bf16 with float32 accumulation) and conv2d_cuda (fp32) on
// every distinct ResNet-50 convolution shape (kernels/conv_shapes.h) at batch 1 or 2, and on odd
// shapes that cut every tile edge (M not a multiple of 64, pixels not of 128, K not of 32, channel
// slices in and out). Two references per tensor-core case, both conv2d_naive on the host:
//   exact:  the operands rounded as the kernel rounds them (round_to_precision), fp32 arithmetic;
//           only the summation differs, so normalized error < 1e-5, scaled by K / 1024 above
//           K = 1024: the tensor cores round their fp32 partial sums toward zero (Fasi et al.,
//           "Numerical behavior of NVIDIA tensor cores", 2021), a bias of up to ~half an ulp of the
//           accumulator per mma, which grows with K relative to the output. This is the test that
//           catches an indexing or fragment-layout bug (errors of 1e-3 and more), whatever the
//           precision; the small-K shapes also catch an operand-rounding mismatch.
//   fp32:   the unrounded problem, within the precision's documented tolerance (tf32 and fp16
//           5e-3, bf16 1.5e-2 normalized error): what a user of the mode should expect.
// fp32 (conv2d_cuda) must match within 1e-5. Outputs are NaN-poisoned first and the channels
// outside the written slice must stay poison. Skipped without a GPU (or below sm_80 for the
// tensor-core modes), except the argument checks, which run before any CUDA call.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/conv2d_cuda.h"
#include "kernels/conv2d_tc.h"
#include "kernels/conv_shapes.h"
#include "gpu/cuda_check.h"
#include "gpu/cuda_memory.h"
#include "test_util.h"

namespace dice {
namespace {


struct TcCase {
  std::string name;
  Conv2dParams p;               // batch strides set when slices are used
  int64_t out_offset = 0;       // first output channel written (slice)
  int64_t out_total = 0;        // channels per image of the output buffer
  bool in_bn = false, bias = true, residual = true, relu = true;
};

void PrintTo(const TcCase& c, std::ostream* os) { *os << c.name; }

std::vector<TcCase> cases() {
  std::vector<TcCase> v;
  for (const ConvShape2d& s : kResNet50ConvShapes) {
    TcCase c;
    c.name = s.name;
    // Batch 2 where the layer is small, 1 for the big early layers (the host reference is slow).
    c.p = s.params(s.height >= 56 ? 1 : 2);
    c.out_total = s.out_channels;
    v.push_back(c);
  }
  auto odd = [&](const char* name, int64_t batch, int64_t c_in, int64_t h, int64_t w, int64_t o,
                 int64_t k, int64_t stride, int64_t pad, int64_t in_total, int64_t out_total,
                 int64_t out_offset, bool in_bn, bool bias, bool residual, bool relu) {
    TcCase c;
    c.name = name;
    c.p.batch = batch, c.p.in_channels = c_in, c.p.height = h, c.p.width = w;
    c.p.out_channels = o, c.p.kernel = k, c.p.stride = stride, c.p.pad = pad;
    c.p.in_batch_stride = in_total * h * w;
    c.p.out_batch_stride = out_total * c.p.out_height() * c.p.out_width();
    c.out_total = out_total, c.out_offset = out_offset;
    c.in_bn = in_bn, c.bias = bias, c.residual = residual, c.relu = relu;
    v.push_back(c);
  };
  odd("odd_3x3s2_all_fusions", 3, 5, 9, 11, 7, 3, 2, 1, 6, 9, 1, true, true, true, true);
  odd("odd_5x5s3_no_relu", 2, 3, 14, 14, 17, 5, 3, 2, 3, 17, 0, true, true, false, false);
  odd("odd_1x1_m65_slices", 5, 19, 17, 13, 65, 1, 1, 0, 21, 66, 1, false, true, true, false);
  odd("odd_7x7s2_k147", 2, 3, 23, 19, 70, 7, 2, 3, 3, 70, 0, false, true, false, true);
  odd("odd_1x1_single", 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 0, false, false, false, false);
  odd("odd_3x3_k33x9", 3, 33, 10, 10, 129, 3, 1, 1, 33, 130, 1, true, false, true, true);
  return v;
}

// Uniform in [lo, hi) from a 64-bit LCG (fast for the large layers).
std::vector<float> random_vector(int64_t n, uint64_t& state, float lo, float hi) {
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    x = lo + (hi - lo) * static_cast<float>(state >> 40) * (1.0f / 16777216.0f);
  }
  return v;
}

bool is_poison(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return bits == 0xFFFFFFFFu;
}

double tolerance(Precision p) {
  switch (p) {
    case Precision::kFp32: return 1e-5;
    case Precision::kTf32:
    case Precision::kFp16: return 5e-3;
    case Precision::kBf16: return 1.5e-2;
  }
  return 0;
}

class Conv2dTc : public ::testing::TestWithParam<TcCase> {};

TEST_P(Conv2dTc, MatchesNaive) {
  DICE_REQUIRE_GPU();
  const TcCase& c = GetParam();
  const Conv2dParams& p = c.p;
  const bool tc_ok = tensor_cores_unsupported(0).empty();
  const int64_t hw = p.height * p.width, ohw = p.out_height() * p.out_width();
  const int64_t in_size = p.batch * p.in_stride(), out_size = p.batch * p.out_stride();
  const int64_t out_off = c.out_offset * ohw;
  const int64_t wsize = p.out_channels * p.in_channels * p.kernel * p.kernel;
  uint64_t rng = 1234;
  const auto in = random_vector(in_size, rng, -1.0f, 1.0f);
  const auto weight = random_vector(wsize, rng, -0.5f, 0.5f);
  const auto in_scale = random_vector(p.in_channels, rng, 0.5f, 1.5f);
  const auto in_shift = random_vector(p.in_channels, rng, -0.5f, 0.5f);
  const auto bias = random_vector(p.out_channels, rng, -0.5f, 0.5f);
  const auto residual = random_vector(out_size, rng, -1.0f, 1.0f);

  ConvFusion cf;  // host pointers, for the references
  if (c.in_bn) cf.in_scale = in_scale.data(), cf.in_shift = in_shift.data();
  if (c.bias) cf.bias = bias.data();
  if (c.residual) cf.residual = residual.data() + out_off;
  cf.out_relu = c.relu;
  std::vector<float> ref32(static_cast<size_t>(out_size), NAN);
  conv2d_naive(p, in.data(), weight.data(), ref32.data() + out_off, cf);

  DeviceBuffer<float> d_in(in), d_weight(weight), d_in_scale(in_scale), d_in_shift(in_shift),
      d_bias(bias), d_residual(residual), d_out(out_size);
  ConvFusion gf;
  if (c.in_bn) gf.in_scale = d_in_scale.data(), gf.in_shift = d_in_shift.data();
  if (c.bias) gf.bias = d_bias.data();
  if (c.residual) gf.residual = d_residual.data() + out_off;
  gf.out_relu = c.relu;
  Stream stream;

  // The written slice of an output buffer, and the count of clobbered elements outside it.
  auto slice = [&](const std::vector<float>& buf, int64_t* clobbered) {
    std::vector<float> s;
    for (int64_t n = 0; n < p.batch; ++n)
      for (int64_t ch = 0; ch < c.out_total; ++ch)
        for (int64_t i = 0; i < ohw; ++i) {
          const float x = buf[static_cast<size_t>(n * p.out_stride() + ch * ohw + i)];
          if (ch >= c.out_offset && ch < c.out_offset + p.out_channels)
            s.push_back(x);
          else if (clobbered && !is_poison(x))
            ++*clobbered;
        }
    return s;
  };
  const std::vector<float> want32 = slice(ref32, nullptr);
  const int64_t n_out = static_cast<int64_t>(want32.size());

  for (Precision prec : {Precision::kFp32, Precision::kTf32, Precision::kFp16, Precision::kBf16}) {
    SCOPED_TRACE(precision_name(prec));
    if (is_tensor_core(prec) && !tc_ok) continue;
    d_out.poison();
    if (prec == Precision::kFp32) {
      ASSERT_TRUE(conv2d_cuda_unsupported(p, gf).empty()) << conv2d_cuda_unsupported(p, gf);
      conv2d_cuda(p, d_in.data(), d_weight.data(), d_out.data() + out_off, gf, stream);
    } else {
      ASSERT_TRUE(conv2d_tc_unsupported(p, gf, prec).empty()) << conv2d_tc_unsupported(p, gf, prec);
      DeviceBuffer<uint8_t> packed(conv2d_tc_pack_weights(p, prec, weight.data()));
      conv2d_tc(p, prec, d_in.data(), packed.data(), d_out.data() + out_off, gf, stream);
    }
    stream.synchronize();
    int64_t clobbered = 0;
    const std::vector<float> got = slice(d_out.download(), &clobbered);
    EXPECT_EQ(clobbered, 0) << "wrote outside its output channel slice";
    const double tol = tolerance(prec);
    EXPECT_LT(test::normalized_error(got.data(), want32.data(), n_out, tol, c.name.c_str()), tol);

    if (is_tensor_core(prec)) {
      // Exact reference: the pre-activation applied on the host, both operands rounded.
      std::vector<float> xin = in;
      for (int64_t n = 0; n < p.batch; ++n)
        for (int64_t ch = 0; ch < p.in_channels; ++ch)
          for (int64_t i = 0; i < hw; ++i) {
            float& x = xin[static_cast<size_t>(n * p.in_stride() + ch * hw + i)];
            // std::fma as the kernel's fmaf: the same float before rounding to the operand type.
            if (c.in_bn) x = std::fmax(std::fma(x, in_scale[ch], in_shift[ch]), 0.0f);
            x = round_to_precision(x, prec);
          }
      std::vector<float> wr = weight;
      for (float& x : wr) x = round_to_precision(x, prec);
      ConvFusion ef = cf;
      ef.in_scale = ef.in_shift = nullptr;
      std::vector<float> refx(static_cast<size_t>(out_size), NAN);
      conv2d_naive(p, xin.data(), wr.data(), refx.data() + out_off, ef);
      const std::vector<float> wantx = slice(refx, nullptr);
      const double k_len = static_cast<double>(p.in_channels * p.kernel * p.kernel);
      const double tol_x = 1e-5 * std::max(1.0, k_len / 1024.0);
      EXPECT_LT(test::normalized_error(got.data(), wantx.data(), n_out, tol_x, c.name.c_str()), tol_x)
          << "against the exactly rounded operands: 1e-3 or more is an indexing or fragment-layout "
             "error; 1e-5..1e-4 points at operand rounding or the tensor cores' accumulation";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, Conv2dTc, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<TcCase>& info) { return info.param.name; });

// Argument checks happen before any CUDA call, so they run without a GPU too.
TEST(Conv2dTcArgs, CanImplement) {
  Conv2dParams p;
  p.batch = 2, p.in_channels = 3, p.height = 8, p.width = 8, p.out_channels = 5;
  p.kernel = 3, p.stride = 1, p.pad = 1;
  EXPECT_TRUE(conv2d_tc_unsupported(p, {}, Precision::kFp16).empty());
  EXPECT_FALSE(conv2d_tc_unsupported(p, {}, Precision::kFp32).empty());  // fp32 is conv2d_cuda's
  Conv2dParams bad = p;
  bad.kernel = 11, bad.pad = 0;
  EXPECT_FALSE(conv2d_tc_unsupported(bad, {}, Precision::kBf16).empty());
  EXPECT_THROW(conv2d_tc(bad, Precision::kBf16, nullptr, nullptr, nullptr), Error);
  ConvFusion half;
  float dummy = 0;
  half.out_scale = &dummy;  // scale without shift
  EXPECT_THROW(conv2d_tc(p, Precision::kTf32, nullptr, nullptr, nullptr, half), Error);
  Conv2dParams empty = p;
  empty.batch = 0;
  EXPECT_NO_THROW(conv2d_tc(empty, Precision::kFp16, nullptr, nullptr, nullptr));
}

}  // namespace
}  // namespace dice
