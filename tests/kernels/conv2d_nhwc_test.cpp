// conv2d_nhwc and the NHWC half ops (kernels/conv2d_nhwc.h, kernels/nhwc.h) against host
// references computed here in double from the same 16-bit values.
//
// Host-only (every build): the 16-bit conversions against round_to_precision, and the packed
// weight layout at the positions the header documents.
// GPU (skip without one; in CI they run on cuda_emu in both thread orders): conv2d_nhwc on every
// distinct ResNet-50 conv (tests/op_cases.h; the stem's 3 channels padded to 8 as the network does)
// and on odd shapes chosen to hit each edge of the tiling: pixels and channels that end inside a
// tile (both the 64- and 128-channel tiles), K tails inside a stage, the generic kernel size (5x5),
// strides and pads, and channel slices of wider tensors (ldc > channels) for input, output and
// residual, with every epilogue fusion. Each output element is compared with
//   ref = ((float)sum(x * w) + bias) * scale + shift + residual, relu, from the rounded operands:
//   |got - ref| <= one 16-bit ulp of |ref| (the output rounding) + 1e-5 * max(1, K / 1024) *
//   sum |x * w| * |scale| (the tensor cores' float accumulation, as for conv2d_tc)
// so an indexing, fragment or swizzle error (of the order of a whole product) fails, and every
// element outside the written slice must keep its poison. Small problems run twice (nothing may
// depend on what the first run left in shared memory). Every mainloop runs every case: mma.sync
// (fp16, bf16) and sm_90a wgmma, one warpgroup (fp16_wgmma, bf16_wgmma) and warp-specialised
// (*_wgmma_ws); the wgmma ones skip on GPUs without it. The pools
// and the layout conversion are exact: bit-for-bit against the host.
#include "kernels/conv2d_nhwc.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/precision.h"
#include "op_cases.h"
#include "random.h"
#include "test_util.h"

#ifdef DICE_HAVE_CUDA
#include "gpu/cuda_memory.h"
#include "kernels/conv2d_tc.h"
#include "kernels/nhwc.h"
#endif

namespace dice {
namespace {

TEST(Bits16, RoundTripMatchesRoundToPrecision) {
  std::vector<float> xs = test::random_floats(20000, 7, -70000.0f, 70000.0f);
  const std::vector<float> small = test::random_floats(20000, 8, -1e-4f, 1e-4f);
  xs.insert(xs.end(), small.begin(), small.end());
  const float specials[] = {0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 65520.0f, -65536.0f, 5.96e-8f,
                            2.98e-8f, 1e-30f, 3.0e38f, INFINITY, -INFINITY};
  xs.insert(xs.end(), std::begin(specials), std::end(specials));
  for (Precision p : {Precision::kFp16, Precision::kBf16})
    for (float x : xs) {
      const float want = round_to_precision(x, p);
      const float got = from_bits16(to_bits16(x, p), p);
      ASSERT_TRUE(got == want && std::signbit(got) == std::signbit(want))
          << precision_name(p) << " x=" << x << " got " << got << " want " << want;
    }
  EXPECT_TRUE(std::isnan(from_bits16(to_bits16(NAN, Precision::kFp16), Precision::kFp16)));
  EXPECT_TRUE(std::isnan(from_bits16(to_bits16(NAN, Precision::kBf16), Precision::kBf16)));
  EXPECT_THROW(to_bits16(1.0f, Precision::kTf32), Error);
}

TEST(Conv2dNhwcPack, LayoutIsKyKxCWithZeroPadding) {
  Conv2dParams p;
  p.in_channels = 8, p.out_channels = 5, p.kernel = 3;  // 3 real input channels padded to 8
  const int64_t real = 3, cols = 96;                    // 3 * 3 * 8 = 72 -> 96
  std::vector<float> w(5 * real * 9);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i) + 1.0f;  // exact in fp16
  const std::vector<uint16_t> packed = conv2d_nhwc_pack_weights(p, Precision::kFp16, w.data(), real);
  ASSERT_EQ(packed.size() * 2, conv2d_nhwc_packed_bytes(p));
  ASSERT_EQ(packed.size(), static_cast<size_t>(128 * cols));
  for (int64_t o = 0; o < 128; ++o)
    for (int64_t j = 0; j < cols; ++j) {
      const int64_t r = j / 8, c = j % 8, ky = r / 3, kx = r % 3;
      float want = 0.0f;
      if (o < 5 && j < 72 && c < real) want = w[static_cast<size_t>(((o * real + c) * 3 + ky) * 3 + kx)];
      ASSERT_EQ(from_bits16(packed[static_cast<size_t>(o * cols + j)], Precision::kFp16), want)
          << "row " << o << " col " << j;
    }
  EXPECT_THROW(conv2d_nhwc_pack_weights(p, Precision::kTf32, w.data(), real), Error);
  EXPECT_THROW(conv2d_nhwc_pack_weights(p, Precision::kFp16, w.data(), 9), Error);
}

#ifdef DICE_HAVE_CUDA

enum Fuse { kBias = 1, kScale = 2, kResidual = 4, kRelu = 8 };

struct NhwcCase {
  std::string name;
  int64_t batch, C, real_C, H, W, O, k, stride, pad;
  int64_t in_ldc, in_off, out_ldc, out_off;  // slices: channels [off, off + C) of ldc
  int fuse;
};

std::vector<NhwcCase> nhwc_cases() {
  std::vector<NhwcCase> v;
  for (const test::ConvCase& r : test::resnet50_conv_cases()) {
    const int64_t C = (r.in_channels + 7) / 8 * 8;
    v.push_back({r.name, r.batch, C, r.in_channels, r.height, r.width, r.out_channels, r.kernel,
                 r.stride, r.pad, C, 0, r.out_channels, 0, kBias | kResidual | kRelu});
  }
  // Odd shapes: {name, batch, C, real C, H, W, O, k, stride, pad, in ldc, in off, out ldc, out off}.
  v.push_back({"odd_3x3_tails", 3, 40, 40, 7, 5, 24, 3, 1, 1, 40, 0, 24, 0, kBias | kRelu});
  v.push_back({"odd_1x1_o200_slices", 2, 16, 16, 9, 11, 200, 1, 1, 0, 48, 24, 216, 8,
               kBias | kScale | kResidual | kRelu});
  v.push_back({"odd_5x5_s2_p2", 2, 24, 24, 13, 10, 72, 5, 2, 2, 24, 0, 80, 8, kScale | kResidual});
  v.push_back({"odd_3x3_s2_p0_c8", 1, 8, 5, 17, 17, 136, 3, 2, 0, 8, 0, 136, 0, kBias});
  v.push_back({"odd_7x7_s2_p3_c8", 2, 8, 3, 23, 19, 64, 7, 2, 3, 8, 0, 64, 0, kBias | kRelu});
  v.push_back({"odd_1x1_s2_k264", 1, 264, 264, 6, 6, 128, 1, 2, 0, 264, 0, 128, 0, 0});
  return v;
}

struct NhwcImpl {
  std::string name;
  Precision precision;
  NhwcMainloop mainloop = NhwcMainloop::kMma;
};

using NhwcRun = test::OpRun<NhwcCase, NhwcImpl>;

// 16-bit ulp of |x| (binary16 or bfloat16), at least the smallest subnormal.
double ulp16(double x, Precision p) {
  const int mant = p == Precision::kFp16 ? 10 : 7;
  const double min_ulp = p == Precision::kFp16 ? std::ldexp(1.0, -24) : std::ldexp(1.0, -133);
  if (x == 0.0) return min_ulp;
  int e;
  std::frexp(std::fabs(x), &e);  // |x| in [2^(e-1), 2^e)
  return std::max(min_ulp, std::ldexp(1.0, e - 1 - mant));
}

void check_nhwc(const NhwcRun& run) {
  DICE_REQUIRE_GPU();
  const NhwcCase& c = run.c;
  const Precision prec = run.impl.precision;
  const std::string tc_why = tensor_cores_unsupported(0);
  if (!tc_why.empty()) GTEST_SKIP() << tc_why;
  if (run.impl.mainloop != NhwcMainloop::kMma) {
    const std::string no = nhwc_wgmma_unavailable();
    if (!no.empty()) GTEST_SKIP() << "wgmma: " << no;  // another GPU, not a broken setup
  }
  const ScopedNhwcMainloop mainloop(run.impl.mainloop);

  NhwcConv conv;
  Conv2dParams& p = conv.p;
  p.batch = c.batch, p.in_channels = c.C, p.height = c.H, p.width = c.W;
  p.out_channels = c.O, p.kernel = c.k, p.stride = c.stride, p.pad = c.pad;
  conv.in_ldc = c.in_ldc, conv.out_ldc = c.out_ldc, conv.residual_ldc = c.out_ldc;
  const int64_t OH = p.out_height(), OW = p.out_width();
  const int64_t in_n = c.batch * c.H * c.W * c.in_ldc, out_n = c.batch * OH * OW * c.out_ldc;
  const uint64_t seed = test::seed_of(c.name);

  // Inputs as 16-bit values; the padding channels of a padded image are 0, as nchw_to_nhwc16
  // writes them, and the rest of a wider tensor is random (the kernel must not read it).
  const std::vector<float> xf = test::random_floats(in_n, seed, -1.0f, 1.0f);
  std::vector<uint16_t> x(static_cast<size_t>(in_n));
  for (int64_t i = 0; i < in_n; ++i) {
    const int64_t ch = i % c.in_ldc - c.in_off;
    const bool pad_channel = ch >= c.real_C && ch < c.C;
    x[static_cast<size_t>(i)] = to_bits16(pad_channel ? 0.0f : xf[static_cast<size_t>(i)], prec);
  }
  const float wscale = 1.0f / std::sqrt(static_cast<float>(c.real_C * c.k * c.k));
  const std::vector<float> w =
      test::random_floats(c.O * c.real_C * c.k * c.k, seed + 1, -wscale, wscale);
  const std::vector<float> bias = test::random_floats(c.O, seed + 2, -0.5f, 0.5f);
  const std::vector<float> scale = test::random_floats(c.O, seed + 3, 0.5f, 1.5f);
  const std::vector<float> shift = test::random_floats(c.O, seed + 4, -0.5f, 0.5f);
  const std::vector<float> rf = test::random_floats(out_n, seed + 5, -1.0f, 1.0f);
  std::vector<uint16_t> res(static_cast<size_t>(out_n));
  for (int64_t i = 0; i < out_n; ++i) res[static_cast<size_t>(i)] = to_bits16(rf[static_cast<size_t>(i)], prec);

  // Host reference in double from the 16-bit operands.
  auto xv = [&](int64_t n, int64_t y, int64_t xx, int64_t ch) {
    return static_cast<double>(
        from_bits16(x[static_cast<size_t>(((n * c.H + y) * c.W + xx) * c.in_ldc + c.in_off + ch)], prec));
  };
  std::vector<double> wr(w.size());
  for (size_t i = 0; i < w.size(); ++i) wr[i] = from_bits16(to_bits16(w[i], prec), prec);
  const int64_t K = c.k * c.k * c.C;
  const double acc_tol = 1e-5 * std::max(1.0, static_cast<double>(K) / 1024.0);
  std::vector<double> want(static_cast<size_t>(out_n)), tol(static_cast<size_t>(out_n));
  for (int64_t n = 0; n < c.batch; ++n)
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox)
        for (int64_t o = 0; o < c.O; ++o) {
          double sum = 0.0, abs_sum = 0.0;
          for (int64_t ch = 0; ch < c.real_C; ++ch)
            for (int64_t ky = 0; ky < c.k; ++ky)
              for (int64_t kx = 0; kx < c.k; ++kx) {
                const int64_t iy = oy * c.stride - c.pad + ky, ix = ox * c.stride - c.pad + kx;
                if (iy < 0 || iy >= c.H || ix < 0 || ix >= c.W) continue;
                const double prod = xv(n, iy, ix, ch) * wr[static_cast<size_t>(((o * c.real_C + ch) * c.k + ky) * c.k + kx)];
                sum += prod, abs_sum += std::fabs(prod);
              }
          const size_t at = static_cast<size_t>(((n * OH + oy) * OW + ox) * c.out_ldc + c.out_off + o);
          double y = static_cast<float>(sum);
          double mult = 1.0;
          if (c.fuse & kBias) y += bias[static_cast<size_t>(o)];
          if (c.fuse & kScale) {
            y = y * scale[static_cast<size_t>(o)] + shift[static_cast<size_t>(o)];
            mult = scale[static_cast<size_t>(o)];
          }
          if (c.fuse & kResidual) y += from_bits16(res[at], prec);
          if (c.fuse & kRelu) y = std::max(y, 0.0);
          want[at] = y;
          tol[at] = ulp16(y, prec) + acc_tol * abs_sum * mult + 1e-6 * (std::fabs(y) + 1.0);
        }

  DeviceBuffer<uint16_t> dx(x), dres(res), dout(out_n);
  DeviceBuffer<uint16_t> dw(conv2d_nhwc_pack_weights(p, prec, w.data(), c.real_C));
  DeviceBuffer<float> dbias(bias), dscale(scale), dshift(shift);
  NhwcFusion f;
  if (c.fuse & kBias) f.bias = dbias.data();
  if (c.fuse & kScale) f.out_scale = dscale.data(), f.out_shift = dshift.data();
  if (c.fuse & kResidual) f.residual = dres.data() + c.out_off;
  f.relu = (c.fuse & kRelu) != 0;
  ASSERT_EQ(conv2d_nhwc_unsupported(conv, f, prec), "");
  Stream stream;
  const int runs = static_cast<double>(c.batch * OH * OW * c.O * K) < 2e7 ? 2 : 1;
  for (int r = 0; r < runs; ++r) {
    SCOPED_TRACE("run " + std::to_string(r));
    dout.poison();
    conv2d_nhwc(conv, prec, dx.data() + c.in_off, dw.data(), dout.data() + c.out_off, f, stream);
    stream.synchronize();
    const std::vector<uint16_t> got = dout.download();
    int bad = 0;
    double worst = 0.0;
    for (int64_t i = 0; i < out_n; ++i) {
      const int64_t ch = i % c.out_ldc - c.out_off;
      const uint16_t g = got[static_cast<size_t>(i)];
      if (ch < 0 || ch >= c.O) {
        if (g != 0xFFFF && ++bad <= 5) ADD_FAILURE() << "element " << i << " outside the slice written";
        continue;
      }
      const double gv = from_bits16(g, prec), err = std::fabs(gv - want[static_cast<size_t>(i)]);
      worst = std::max(worst, err / tol[static_cast<size_t>(i)]);
      if (!(err <= tol[static_cast<size_t>(i)]) && ++bad <= 5)
        ADD_FAILURE() << c.name << " " << run.impl.name << ": element " << i << " (pixel "
                      << i / c.out_ldc << ", channel " << ch << ") got " << gv << " want "
                      << want[static_cast<size_t>(i)] << " tol " << tol[static_cast<size_t>(i)];
    }
    EXPECT_EQ(bad, 0) << "worst error / tolerance " << worst;
  }
}

const std::vector<NhwcImpl> kNhwcImpls = {{"fp16", Precision::kFp16},
                                          {"bf16", Precision::kBf16},
                                          {"fp16_wgmma", Precision::kFp16, NhwcMainloop::kWgmma},
                                          {"bf16_wgmma", Precision::kBf16, NhwcMainloop::kWgmma},
                                          {"fp16_wgmma_ws", Precision::kFp16, NhwcMainloop::kWgmmaWs},
                                          {"bf16_wgmma_ws", Precision::kBf16, NhwcMainloop::kWgmmaWs}};

class Conv2dNhwcTest : public ::testing::TestWithParam<NhwcRun> {};
DICE_OP_TEST(Conv2dNhwcCuda, Conv2dNhwcTest, MatchesHostReference, check_nhwc, nhwc_cases(),
             kNhwcImpls);

TEST(Conv2dNhwcCudaArgs, Unsupported) {
  NhwcConv conv;
  conv.p.batch = 1, conv.p.in_channels = 16, conv.p.height = conv.p.width = 8;
  conv.p.out_channels = 32, conv.p.kernel = 3, conv.p.pad = 1;
  EXPECT_EQ(conv2d_nhwc_unsupported(conv, {}, Precision::kFp16), "");
  EXPECT_NE(conv2d_nhwc_unsupported(conv, {}, Precision::kTf32), "");
  NhwcConv odd = conv;
  odd.p.in_channels = 12;
  EXPECT_NE(conv2d_nhwc_unsupported(odd, {}, Precision::kFp16).find("multiples of 8"),
            std::string::npos);
  odd = conv;
  odd.out_ldc = 36;
  EXPECT_NE(conv2d_nhwc_unsupported(odd, {}, Precision::kBf16), "");
  odd = conv;
  odd.p.in_batch_stride = 4096;
  EXPECT_NE(conv2d_nhwc_unsupported(odd, {}, Precision::kBf16), "");
  EXPECT_THROW(conv2d_nhwc(odd, Precision::kBf16, nullptr, nullptr, nullptr), Error);
  NhwcConv empty = conv;
  empty.p.batch = 0;
  EXPECT_NO_THROW(conv2d_nhwc(empty, Precision::kFp16, nullptr, nullptr, nullptr));
}

// The layout conversion, the max pool and the global pool, bit for bit against the host.
TEST(NhwcOpsCuda, ConvertPoolAndGlobalPoolMatchTheHost) {
  DICE_REQUIRE_GPU();
  for (Precision prec : {Precision::kFp16, Precision::kBf16}) {
    SCOPED_TRACE(precision_name(prec));
    const int64_t N = 2, C = 3, H = 9, W = 7, ldc = 8;
    const std::vector<float> img = test::random_floats(N * C * H * W, 11, -3.0f, 3.0f);
    DeviceBuffer<float> dimg(img);
    DeviceBuffer<uint16_t> dx(N * H * W * ldc);
    dx.poison();
    nchw_to_nhwc16(N, C, H * W, dimg.data(), dx.data(), ldc, prec);
    const std::vector<uint16_t> x = dx.download();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < H * W; ++i)
        for (int64_t ch = 0; ch < ldc; ++ch) {
          const uint16_t want =
              ch < C ? to_bits16(img[static_cast<size_t>((n * C + ch) * H * W + i)], prec) : 0;
          ASSERT_EQ(x[static_cast<size_t>((n * H * W + i) * ldc + ch)], want) << n << " " << i << " " << ch;
        }

    // Max pool 3x3/2 pad 1 (ResNet's) on 16 channels, reading a slice of a 24-channel tensor,
    // with a NaN and a -inf planted.
    const int64_t PC = 16, in_ldc = 24, out_ldc = 16;
    std::vector<uint16_t> t(static_cast<size_t>(N * H * W * in_ldc));
    const std::vector<float> tf = test::random_floats(static_cast<int64_t>(t.size()), 12, -4.0f, 4.0f);
    for (size_t i = 0; i < t.size(); ++i) t[i] = to_bits16(tf[i], prec);
    t[5 * in_ldc + 8 + 3] = to_bits16(NAN, prec);
    t[9 * in_ldc + 8 + 4] = to_bits16(-INFINITY, prec);
    Pool2dParams pp;
    pp.batch = N, pp.channels = PC, pp.height = H, pp.width = W, pp.kernel = 3, pp.stride = 2, pp.pad = 1;
    const int64_t OH = pp.out_height(), OW = pp.out_width();
    DeviceBuffer<uint16_t> dt(t), dp(N * OH * OW * out_ldc);
    max_pool_nhwc16(pp, in_ldc, out_ldc, dt.data() + 8, dp.data(), prec);
    const std::vector<uint16_t> pooled = dp.download();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t oy = 0; oy < OH; ++oy)
        for (int64_t ox = 0; ox < OW; ++ox)
          for (int64_t ch = 0; ch < PC; ++ch) {
            float best = -INFINITY;
            for (int64_t ky = 0; ky < 3; ++ky)
              for (int64_t kx = 0; kx < 3; ++kx) {
                const int64_t iy = oy * 2 - 1 + ky, ix = ox * 2 - 1 + kx;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                const float v = from_bits16(t[static_cast<size_t>(((n * H + iy) * W + ix) * in_ldc + 8 + ch)], prec);
                if (v > best || std::isnan(v)) best = v;
              }
            const float got = from_bits16(pooled[static_cast<size_t>(((n * OH + oy) * OW + ox) * out_ldc + ch)], prec);
            ASSERT_TRUE(got == best || (std::isnan(got) && std::isnan(best)))
                << n << " " << oy << " " << ox << " " << ch << ": " << got << " vs " << best;
          }

    // Global average pool of the 16-channel slice (float sums in pixel order, as the kernel).
    DeviceBuffer<float> dfeat(N * PC);
    std::vector<uint16_t> clean = t;
    for (uint16_t& v : clean)
      if (std::isnan(from_bits16(v, prec)) || std::isinf(from_bits16(v, prec))) v = 0;
    dt.upload(clean);
    global_avg_pool_nhwc16(N, PC, H * W, in_ldc, dt.data() + 8, dfeat.data(), prec);
    const std::vector<float> feat = dfeat.download();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t ch = 0; ch < PC; ++ch) {
        float sum = 0.0f;
        for (int64_t i = 0; i < H * W; ++i)
          sum += from_bits16(clean[static_cast<size_t>((n * H * W + i) * in_ldc + 8 + ch)], prec);
        EXPECT_EQ(feat[static_cast<size_t>(n * PC + ch)], sum / static_cast<float>(H * W)) << n << " " << ch;
      }
  }
}

#endif  // DICE_HAVE_CUDA

}  // namespace
}  // namespace dice
