// The pools: every implementation the build has (cpu: kernels/pool.h; cuda: kernels/pool_cuda.h)
// on the pool cases of tests/op_cases.h, against double-precision references written straight
// from the PyTorch semantics: average pooling counts padded taps as zeros in a k*k divisor
// (count_include_pad=True), max pooling treats them as -inf and propagates NaN, and the optional
// BN+ReLU prologue applies to real input elements only.
// Every 2-D case runs the average pool plain and with the prologue (normalized error < 1e-6 on the
// CPU, 1e-5 in CUDA) and the max pool (exact, on an all-negative input: a window overlapping the
// padding must still return its largest real value, which only holds if padding acts as -inf).
// Inputs and outputs sit in wider buffers as the case lays them out (channel slices), inside
// margins; outputs are poisoned first and everything outside the written slice must keep the
// poison. Global average pool cases run plain and with the prologue, 1e-6 / 1e-5.
// One body per op; per-backend suites (PoolCpu, PoolCuda, GlobalAvgPoolCpu, GlobalAvgPoolCuda) so
// that scripts can pick a backend by name. CUDA cases skip without a GPU.
#include "kernels/pool.h"
#include "kernels/gemm_cpu.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "op_cases.h"
#include "random.h"
#include "test_util.h"

#ifdef DICE_HAVE_CUDA
#include "gpu/cuda_memory.h"
#include "kernels/pool_cuda.h"
#endif

namespace dice {
namespace {

using test::GapCase;
using test::PoolCase;
using test::Slice;

struct PoolImpl {
  const char* name;
  bool cuda;
  double tol;  // normalized error of the averages
};

const PoolImpl kCpu{"cpu", false, 1e-6};
const PoolImpl kCuda{"cuda", true, 1e-5};

// max over the window (real taps only; padded taps are -inf) or the k*k average (padded taps 0),
// as [batch][channels][out_h][out_w].
std::vector<float> reference(const Pool2dParams& p, const float* in, bool average,
                             const float* scale, const float* shift) {
  const int64_t Ho = p.out_height(), Wo = p.out_width();
  std::vector<float> out(static_cast<size_t>(p.batch * p.channels * Ho * Wo));
  for (int64_t n = 0; n < p.batch; ++n)
    for (int64_t c = 0; c < p.channels; ++c)
      for (int64_t oy = 0; oy < Ho; ++oy)
        for (int64_t ox = 0; ox < Wo; ++ox) {
          double acc = average ? 0.0 : -INFINITY;
          bool nan = false;
          for (int64_t kh = 0; kh < p.kernel; ++kh)
            for (int64_t kw = 0; kw < p.kernel; ++kw) {
              const int64_t iy = oy * p.stride - p.pad + kh, ix = ox * p.stride - p.pad + kw;
              if (iy < 0 || iy >= p.height || ix < 0 || ix >= p.width) continue;
              double v = in[n * p.in_stride() + (c * p.height + iy) * p.width + ix];
              if (scale) v = std::max(v * scale[c] + shift[c], 0.0);
              if (std::isnan(v)) nan = true;
              acc = average ? acc + v : std::max(acc, v);
            }
          if (average) acc /= static_cast<double>(p.kernel * p.kernel);
          if (nan) acc = NAN;
          out[static_cast<size_t>(((n * p.channels + c) * Ho + oy) * Wo + ox)] =
              static_cast<float>(acc);
        }
  return out;
}

enum class PoolOp { kAvg, kAvgBnRelu, kMax };

// Runs one pool of `impl` on the input buffer `in` (laid out as `in_layout`) into a poisoned
// output buffer laid out as `out_layout`, and returns that buffer.
std::vector<float> run_pool(const PoolImpl& impl, PoolOp op, const Pool2dParams& p,
                            const Slice& in_layout, const std::vector<float>& in,
                            const Slice& out_layout, const std::vector<float>& scale,
                            const std::vector<float>& shift) {
  const bool bn = op == PoolOp::kAvgBnRelu;
  if (!impl.cuda) {
    std::vector<float> out = test::poisoned(out_layout.size());
    const float* x = in.data() + in_layout.start();
    float* y = out.data() + out_layout.start();
    if (op == PoolOp::kMax)
      max_pool2d_cpu(p, x, y);
    else
      avg_pool2d_cpu(p, x, y, bn ? scale.data() : nullptr, bn ? shift.data() : nullptr);
    return out;
  }
#ifdef DICE_HAVE_CUDA
  DeviceBuffer<float> d_in(in), d_scale(scale), d_shift(shift), d_out(out_layout.size());
  d_out.poison();
  const float* x = d_in.data() + in_layout.start();
  float* y = d_out.data() + out_layout.start();
  if (op == PoolOp::kMax)
    max_pool2d_cuda(p, x, y);
  else
    avg_pool2d_cuda(p, x, y, bn ? d_scale.data() : nullptr, bn ? d_shift.data() : nullptr);
  DICE_CUDA_CHECK(cudaDeviceSynchronize());
  return d_out.download();
#else
  return {};
#endif
}

using PoolRun = test::OpRun<PoolCase, PoolImpl>;

void check_pool(const PoolRun& r) {
  if (r.impl.cuda) DICE_REQUIRE_GPU();
  const PoolCase& c = r.c;
  const Pool2dParams p = c.params();
  const Slice in{c.batch, c.in_buffer_channels, c.in_offset, c.channels, c.height * c.width};
  const Slice out{c.batch, c.out_buffer_channels, c.out_offset, c.channels,
                  p.out_height() * p.out_width()};
  const uint64_t seed = test::seed_of(c.name);
  const auto avg_in = test::random_floats(in.size(), seed + 1, -2, 2);
  const auto max_in = test::random_floats(in.size(), seed + 2, -3, -0.5f);  // all negative
  const auto scale = test::random_floats(c.channels, seed + 3, -1.5f, 1.5f);
  const auto shift = test::random_floats(c.channels, seed + 4, -0.5f, 0.5f);
  for (PoolOp op : {PoolOp::kAvg, PoolOp::kAvgBnRelu, PoolOp::kMax}) {
    const bool max = op == PoolOp::kMax, bn = op == PoolOp::kAvgBnRelu;
    SCOPED_TRACE(max ? "max" : bn ? "avg of relu(bn(x))" : "avg");
    const std::vector<float>& x = max ? max_in : avg_in;
    const std::vector<float> want = reference(
        p, x.data() + in.start(), !max, bn ? scale.data() : nullptr, bn ? shift.data() : nullptr);
    int64_t clobbered = 0;
    const std::vector<float> got =
        test::take_slice(out, run_pool(r.impl, op, p, in, x, out, scale, shift), &clobbered);
    EXPECT_EQ(clobbered, 0) << "wrote outside the output slice";
    ASSERT_EQ(got.size(), want.size());
    if (max) {
      for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], want[i]) << "at " << i;
    } else {
      EXPECT_LT(test::normalized_error(got.data(), want.data(), static_cast<int64_t>(got.size()),
                                       r.impl.tol, c.name.c_str()),
                r.impl.tol);
    }
  }
}

class PoolTest : public ::testing::TestWithParam<PoolRun> {};

DICE_OP_TEST(PoolCpu, PoolTest, MatchesReference, check_pool, test::pool_cases(),
             (std::vector<PoolImpl>{kCpu}));

#ifdef DICE_HAVE_CUDA
DICE_OP_TEST(PoolCuda, PoolTest, MatchesReference, check_pool, test::pool_cases(),
             (std::vector<PoolImpl>{kCuda}));
#endif

// ---- global average pool ----

using GapRun = test::OpRun<GapCase, PoolImpl>;

void check_gap(const GapRun& r) {
  if (r.impl.cuda) DICE_REQUIRE_GPU();
  const GapCase& c = r.c;
  const Slice in{c.batch, c.in_buffer_channels, c.in_offset, c.channels, c.hw};
  const uint64_t seed = test::seed_of(c.name);
  const auto x = test::random_floats(in.size(), seed + 1, -2, 2);
  const auto scale = test::random_floats(c.channels, seed + 2, -1.5f, 1.5f);
  const auto shift = test::random_floats(c.channels, seed + 3, -0.5f, 0.5f);
  const int64_t n_out = c.batch * c.channels;
  for (bool bn : {false, true}) {
    SCOPED_TRACE(bn ? "of relu(bn(x))" : "plain");
    const float* sc = bn ? scale.data() : nullptr;
    const float* sh = bn ? shift.data() : nullptr;
    std::vector<float> want(static_cast<size_t>(n_out));
    for (int64_t n = 0; n < c.batch; ++n)
      for (int64_t ch = 0; ch < c.channels; ++ch) {
        double s = 0;
        for (int64_t i = 0; i < c.hw; ++i) {
          double v = x[static_cast<size_t>(in.start() + n * in.batch_stride() + ch * c.hw + i)];
          if (bn)
            v = std::max(v * scale[static_cast<size_t>(ch)] + shift[static_cast<size_t>(ch)], 0.0);
          s += v;
        }
        want[static_cast<size_t>(n * c.channels + ch)] = static_cast<float>(s / c.hw);
      }
    std::vector<float> got = test::poisoned(n_out);
    if (!r.impl.cuda) {
      global_avg_pool_cpu(c.batch, c.channels, c.hw, x.data() + in.start(), got.data(), sc, sh,
                          c.in_batch_stride());
    } else {
#ifdef DICE_HAVE_CUDA
      DeviceBuffer<float> d_in(x), d_scale(scale), d_shift(shift), d_out(n_out);
      d_out.poison();
      global_avg_pool_cuda(c.batch, c.channels, c.hw, d_in.data() + in.start(), d_out.data(),
                           bn ? d_scale.data() : nullptr, bn ? d_shift.data() : nullptr,
                           c.in_batch_stride());
      DICE_CUDA_CHECK(cudaDeviceSynchronize());
      got = d_out.download();
#endif
    }
    EXPECT_LT(test::normalized_error(got.data(), want.data(), n_out, r.impl.tol, c.name.c_str()),
              r.impl.tol);
  }
}

class GapTest : public ::testing::TestWithParam<GapRun> {};

DICE_OP_TEST(GlobalAvgPoolCpu, GapTest, MatchesReference, check_gap, test::gap_cases(),
             (std::vector<PoolImpl>{kCpu}));

#ifdef DICE_HAVE_CUDA
DICE_OP_TEST(GlobalAvgPoolCuda, GapTest, MatchesReference, check_gap, test::gap_cases(),
             (std::vector<PoolImpl>{kCuda}));
#endif

// ---- semantics pinned by hand ----

TEST(MaxPoolCpu, PropagatesNaN) {
  Pool2dParams p;
  p.batch = 1, p.channels = 1, p.height = 4, p.width = 4, p.kernel = 2, p.stride = 2;
  std::vector<float> in(16, 1.0f), out(4);
  in[5] = NAN;  // row 1, col 1: inside the first window only
  max_pool2d_cpu(p, in.data(), out.data());
  EXPECT_TRUE(std::isnan(out[0]));
  EXPECT_EQ(out[1], 1.0f);
  EXPECT_EQ(out[2], 1.0f);
  EXPECT_EQ(out[3], 1.0f);
}

// The fast path drops NaN in its branch-free max and redoes a plane that read one: wherever the
// NaN sits (window corner, edge, overlap of two windows), exactly the outputs whose window holds
// it are NaN, and the other plane of the batch is untouched.
TEST(MaxPoolCpu, PropagatesNaNFromEveryPosition) {
  Pool2dParams p;
  p.batch = 2, p.channels = 1, p.height = 7, p.width = 6, p.kernel = 3, p.stride = 2, p.pad = 1;
  const int64_t Ho = p.out_height(), Wo = p.out_width();
  std::vector<float> in(static_cast<size_t>(2 * 7 * 6)), clean(static_cast<size_t>(2 * Ho * Wo));
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>((i * 37) % 23) - 11.0f;
  max_pool2d_cpu(p, in.data(), clean.data());
  for (int64_t pos = 0; pos < 7 * 6; ++pos) {
    std::vector<float> x = in, out(clean.size());
    x[static_cast<size_t>(pos)] = NAN;  // image 0 only
    max_pool2d_cpu(p, x.data(), out.data());
    const int64_t iy = pos / 6, ix = pos % 6;
    for (int64_t oy = 0; oy < Ho; ++oy) {
      for (int64_t ox = 0; ox < Wo; ++ox) {
        const bool covers = iy >= oy * 2 - 1 && iy <= oy * 2 + 1 && ix >= ox * 2 - 1 && ix <= ox * 2 + 1;
        const size_t o = static_cast<size_t>(oy * Wo + ox);
        if (covers)
          EXPECT_TRUE(std::isnan(out[o])) << "NaN at " << iy << "," << ix << " output " << oy << "," << ox;
        else
          EXPECT_EQ(out[o], clean[o]) << "NaN at " << iy << "," << ix << " output " << oy << "," << ox;
      }
    }
    for (size_t o = static_cast<size_t>(Ho * Wo); o < out.size(); ++o) EXPECT_EQ(out[o], clean[o]);
  }
}

// The 3x3/2 pad-1 pool runs on the ISA's vectors (GemmIsa::max_pool_3s2): on every ISA, odd and
// even sizes down to 1x1, it equals the reference exactly, and a plane holding an infinity (which
// the vector path hands back to the direct loop) still pools it as the largest or smallest value.
TEST(MaxPoolCpu, ThreeByThreeStrideTwoOnEveryIsa) {
  for (CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    if (!cpu_isa_supported(isa)) continue;
    const CpuIsa old = force_cpu_isa(isa);
    for (const auto& hw : std::vector<std::pair<int64_t, int64_t>>{
             {1, 1}, {2, 3}, {7, 6}, {13, 17}, {33, 40}, {112, 112}}) {
      Pool2dParams p;
      p.batch = 2, p.channels = 3, p.height = hw.first, p.width = hw.second;
      p.kernel = 3, p.stride = 2, p.pad = 1;
      std::vector<float> in = test::random_floats(2 * 3 * hw.first * hw.second, 5, -2, 2);
      in[in.size() / 2] = -INFINITY;
      in[in.size() / 3] = INFINITY;
      std::vector<float> out(static_cast<size_t>(2 * 3 * p.out_height() * p.out_width()), NAN);
      max_pool2d_cpu(p, in.data(), out.data());
      const std::vector<float> want = reference(p, in.data(), false, nullptr, nullptr);
      EXPECT_EQ(out, want) << cpu_isa_name(isa) << " " << hw.first << "x" << hw.second;
    }
    force_cpu_isa(old);
  }
}

TEST(AvgPoolCpu, PaddingCountsInTheDivisor) {
  // 3x3/1 pad 1 over a 2x2 plane of ones: every window holds 4 ones out of 9 taps.
  Pool2dParams p;
  p.batch = 1, p.channels = 1, p.height = 2, p.width = 2, p.kernel = 3, p.stride = 1, p.pad = 1;
  std::vector<float> in(4, 1.0f), out(4);
  avg_pool2d_cpu(p, in.data(), out.data());
  for (float v : out) EXPECT_FLOAT_EQ(v, 4.0f / 9.0f);
}

#ifdef DICE_HAVE_CUDA
TEST(PoolCudaArgs, RejectsBadShapes) {
  Pool2dParams p;
  p.batch = 1, p.channels = 2, p.height = 3, p.width = 3, p.kernel = 5, p.stride = 1, p.pad = 0;
  EXPECT_THROW(avg_pool2d_cuda(p, nullptr, nullptr), Error);  // window larger than the input
  EXPECT_THROW(global_avg_pool_cuda(1, 0, 4, nullptr, nullptr), Error);
}
#endif

}  // namespace
}  // namespace dice
