// conv2d: every implementation the build has, on every conv case of tests/op_cases.h (DenseNet-BC-
// 100 and ResNet-50 as the networks run them, odd sizes), against conv2d_naive, the spec.
//   scalar, avx2, avx512   conv2d_cpu with the instruction set capped (force_cpu_isa); an ISA this
//                          CPU lacks is skipped, saying so. Normalized error < 1e-5.
//   winograd_<isa>         the same under CpuConvAlgo::kWinogradAll (every 3x3 pad-1 conv of
//                          stride 1 or 2 without a residual runs Winograd F(2x2,3x3), at stride 2
//                          its 5x5 form), on the 3x3 pad-1 cases only (the others skip: they
//                          would rerun the direct path). 1e-5.
//   winograd4_<isa>        the same under kWinograd4All (F(4x4,3x3)), stride-1 cases only
//                          (it runs stride 2 on the direct path, which the plain rows test).
//                          2e-5: its transforms
//                          scale inputs by up to 5 and results by up to 8 (F(2x2)'s by 1), and
//                          it measured 1.05e-5 on the 4140-deep odd_batch_3x3p1_k4140_5x5.
//   bf16_avx512            conv2d_cpu's bf16 mode (AVX512-BF16; skipped without it), against
//                          the same two references as the tensor cores' bf16 below.
//   fp32                   conv2d_cuda. < 1e-5.
//   tf32, fp16, bf16       conv2d_tc, against two references, both conv2d_naive on the host:
//     exact: the operands rounded as the kernel rounds them (round_to_precision), so only the
//       summation differs: < 1e-5, scaled by K / 1024 above K = 1024 (K = C * k * k), since the
//       tensor cores round their fp32 partial sums toward zero (Fasi et al., "Numerical behavior of
//       NVIDIA tensor cores", 2021), a bias of up to about half an ulp of the accumulator per mma.
//       This is what catches an indexing or fragment-layout bug (1e-3 and more) at any precision.
//     fp32: the unrounded problem, within what a user of the mode should expect: tf32 and fp16
//       5e-3, bf16 1.5e-2.
//   cudnn_fp32, cudnn_tf32 CudnnConv2d, the vendor baseline (FMA math; tensor-op math allowed).
//                          It has no fusions, so it runs the plain convolution only. 1e-4 (its FFT
//                          and Winograd algorithms round differently), 5e-3.
// Each tensor sits in a wider buffer as the case lays it out (channel slices), inside margins; the
// output buffer (and the residual, laid out alike) is poisoned first and everything outside the
// written slice must still be poison after the run. The GPU implementations run twice on problems
// under 1e8 flops (the second run checks that nothing depends on what the first left behind; the
// ResNet-size rows are too slow for that in the emulator). Fusions: the network's on its rows (the
// ResNet rows add the folded-BN epilogue, so one run covers bias, scale/shift, residual and ReLU)
// and the chosen set on the odd rows. The CPU paths, cheap enough, run more: all 32 combinations
// on the odd rows chosen for that (kFuseEvery) and on the DenseNet rows under 1e7 flops (the stem
// and the 8x8 layers among them); both the plain conv and the bottleneck's set on the other
// DenseNet rows; the plain conv, the chosen set and every fusion at once on the other odd rows.
// One test body (check_conv); the suites are per backend, Conv2dCpu, Conv2dCuda, Conv2dTc and
// Conv2dCudnn, so that scripts can pick a backend by name (emulate.sh runs 'Cuda|Conv2dTc' on the
// emulator, sanitize.sh leaves out the ResNet-size Conv2dTc cases, gpu-check.sh runs the odd ones
// under compute-sanitizer). GPU cases skip without a GPU (fail under DICE_REQUIRE_GPU=1); the
// argument checks at the end run before any CUDA call, so they run without one.
#include "kernels/conv2d.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/parallel.h"
#include "kernels/conv2d_winograd.h"
#include "kernels/gemm_cpu.h"
#include "kernels/precision.h"
#include "op_cases.h"
#include "random.h"
#include "test_util.h"

#ifdef DICE_HAVE_CUDA
#include "kernels/conv2d_cuda.h"
#include "kernels/conv2d_tc.h"
#include "gpu/cuda_memory.h"
#endif
#ifdef DICE_HAVE_CUDNN
#include "kernels/cudnn/conv2d_cudnn.h"
#endif

namespace dice {
namespace {

using test::ConvCase;
using test::Net;
using test::Slice;

enum class Backend { kCpu, kCuda, kTc, kCudnn };

struct ConvImpl {
  const char* name;
  Backend backend;
  CpuIsa isa;           // kCpu
  Precision precision;  // kTc; kCudnn: fp32 or tf32 math
  double tol;           // normalized error against conv2d_naive on the unrounded operands
  int winograd = 0;  // kCpu: 2 / 4 run under CpuConvAlgo::kWinogradAll / kWinograd4All
  bool cuda_gemm = false;  // kCuda: run under CudaConvAlgo::kGemm (else kAuto)
};

const std::vector<ConvImpl> kCpuImpls = {
    {"scalar", Backend::kCpu, CpuIsa::kScalar, Precision::kFp32, 1e-5},
    {"avx2", Backend::kCpu, CpuIsa::kAvx2, Precision::kFp32, 1e-5},
    {"avx512", Backend::kCpu, CpuIsa::kAvx512, Precision::kFp32, 1e-5},
    {"winograd_scalar", Backend::kCpu, CpuIsa::kScalar, Precision::kFp32, 1e-5, 2},
    {"winograd_avx2", Backend::kCpu, CpuIsa::kAvx2, Precision::kFp32, 1e-5, 2},
    {"winograd_avx512", Backend::kCpu, CpuIsa::kAvx512, Precision::kFp32, 1e-5, 2},
    {"winograd4_scalar", Backend::kCpu, CpuIsa::kScalar, Precision::kFp32, 2e-5, 4},
    {"winograd4_avx2", Backend::kCpu, CpuIsa::kAvx2, Precision::kFp32, 2e-5, 4},
    {"winograd4_avx512", Backend::kCpu, CpuIsa::kAvx512, Precision::kFp32, 2e-5, 4},
    {"bf16_avx512", Backend::kCpu, CpuIsa::kAvx512, Precision::kBf16, 1.5e-2}};

using ConvRun = test::OpRun<ConvCase, ConvImpl>;

std::string fusion_name(int f) {
  std::string s;
  if (f & test::kFuseInBn) s += "in_bn+";
  if (f & test::kFuseBias) s += "bias+";
  if (f & test::kFuseOutBn) s += "out_bn+";
  if (f & test::kFuseResidual) s += "residual+";
  if (f & test::kFuseRelu) s += "relu+";
  return s.empty() ? "none" : s.substr(0, s.size() - 1);
}

// The fusion sets a backend runs on case `c` (see the file comment).
std::vector<int> fusion_sets(const ConvCase& c, Backend b) {
  if (b == Backend::kCudnn) return {0};
  const int network = c.net == Net::kResNet ? c.fusion | test::kFuseOutBn : c.fusion;
  if (b != Backend::kCpu || c.net == Net::kResNet) return {network};
  if (c.fusion == test::kFuseEvery || (c.net == Net::kDenseNet && c.params().flops() < 1e7)) {
    std::vector<int> all;
    for (int f = 0; f <= test::kFuseEvery; ++f) all.push_back(f);
    return all;
  }
  if (c.net == Net::kDenseNet) return {0, test::kFuseInBn | test::kFuseOutBn | test::kFuseRelu};
  return {0, network, test::kFuseEvery};
}

// The host data of one case: the input in its buffer, weights, the fusion vectors, the residual in
// a buffer laid out like the output.
struct ConvData {
  Conv2dParams p;
  Slice in, out;
  std::vector<float> input, weight, in_scale, in_shift, bias, out_scale, out_shift, residual;

  explicit ConvData(const ConvCase& c) {
    p = c.params();  // the case's layout: margins around the buffers do not change the strides
    in = {c.batch, c.in_buffer_channels, c.in_offset, c.in_channels, c.height * c.width};
    out = {c.batch, c.out_buffer_channels, c.out_offset, c.out_channels,
           p.out_height() * p.out_width()};
    const uint64_t seed = test::seed_of(c.name);
    input = test::random_floats(in.size(), seed + 1, -1.0f, 1.0f);
    weight = test::random_floats(c.out_channels * c.in_channels * c.kernel * c.kernel, seed + 2,
                                 -0.5f, 0.5f);
    in_scale = test::random_floats(c.in_channels, seed + 3, -1.5f, 1.5f);
    in_shift = test::random_floats(c.in_channels, seed + 4, -0.5f, 0.5f);
    bias = test::random_floats(c.out_channels, seed + 5, -0.5f, 0.5f);
    out_scale = test::random_floats(c.out_channels, seed + 6, -1.5f, 1.5f);
    out_shift = test::random_floats(c.out_channels, seed + 7, -0.5f, 0.5f);
    residual = test::random_floats(out.size(), seed + 8, -1.0f, 1.0f);
  }
};

using FusionPtrs = test::ConvFusionVectors;
using test::conv_fusion;

FusionPtrs host_ptrs(const ConvData& d) {
  return {d.in_scale.data(),  d.in_shift.data(),  d.bias.data(),
          d.out_scale.data(), d.out_shift.data(), d.residual.data() + d.out.start()};
}

// conv2d_naive's output buffer for (case, fusion set), computed once per process: every backend
// and ISA of a case compares against the same one.
const std::vector<float>& oracle(const ConvCase& c, const ConvData& d, int set) {
  static std::map<std::string, std::vector<float>> cache;
  std::vector<float>& want = cache[c.name + "/" + std::to_string(set)];
  if (want.empty()) {
    want = test::poisoned(d.out.size());
    conv2d_naive(d.p, d.input.data() + d.in.start(), d.weight.data(), want.data() + d.out.start(),
                 conv_fusion(set, host_ptrs(d)));
  }
  return want;
}

// Compares the written slice of `got` with the same slice of `want`, and that nothing else was
// written.
void expect_matches(const ConvData& d, const std::vector<float>& got,
                    const std::vector<float>& want, double tol, const std::string& what) {
  int64_t clobbered = 0;
  const std::vector<float> g = test::take_slice(d.out, got, &clobbered);
  const std::vector<float> w = test::take_slice(d.out, want);
  EXPECT_EQ(clobbered, 0) << what << ": wrote outside its output slice";
  EXPECT_LT(
      test::normalized_error(g.data(), w.data(), static_cast<int64_t>(w.size()), tol, what.c_str()),
      tol)
      << what;
}


using test::IsaGuard;

// Runs body once per ISA this CPU supports, with that ISA forced and named in failures.
void for_each_cpu_isa(const std::function<void(CpuIsa)>& body) {
  for (CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    if (!cpu_isa_supported(isa)) continue;
    SCOPED_TRACE(cpu_isa_name(isa));
    IsaGuard guard(isa);
    body(isa);
  }
}

// The exact reference of a tensor-core run (and of conv2d_cpu's bf16 mode): the pre-activation applied on the host and both
// operands rounded to the operand type, then conv2d_naive with the other fusions.
std::vector<float> rounded_reference(const ConvData& d, int set, Precision prec) {
  const Conv2dParams& p = d.p;
  std::vector<float> x = d.input;
  for (int64_t n = 0; n < p.batch; ++n)
    for (int64_t ch = 0; ch < p.in_channels; ++ch)
      for (int64_t i = 0; i < d.in.plane; ++i) {
        float& v =
            x[static_cast<size_t>(d.in.start() + n * d.in.batch_stride() + ch * d.in.plane + i)];
        // std::fma as the kernel's fmaf: the same float before rounding to the operand type.
        if (set & test::kFuseInBn)
          v = std::fmax(
              std::fma(v, d.in_scale[static_cast<size_t>(ch)], d.in_shift[static_cast<size_t>(ch)]),
              0.0f);
        v = round_to_precision(v, prec);
      }
  std::vector<float> w = d.weight;
  for (float& v : w) v = round_to_precision(v, prec);
  std::vector<float> want = test::poisoned(d.out.size());
  conv2d_naive(p, x.data() + d.in.start(), w.data(), want.data() + d.out.start(),
               conv_fusion(set & ~test::kFuseInBn, host_ptrs(d)));
  return want;
}

// conv2d_cpu's bf16 mode (weights packed with Precision::kBf16): against the exactly rounded
// operands (only the float32 summation differs: 1e-5 as the tensor cores' bound, per K / 1024
// above K = 1024), and against the unrounded problem at bf16's 1.5e-2.
void check_cpu_bf16(const ConvRun& r, const ConvData& d) {
  if (!cpu_isa_bf16()) GTEST_SKIP() << "this CPU has no AVX512-BF16: conv2d_cpu has no bf16 mode here";
  ScopedCpuConvAlgo direct(CpuConvAlgo::kDirect);  // every shape through the bf16 GEMM
  const Conv2dCpuPacked packed = conv2d_cpu_pack(d.p, d.weight.data(), Precision::kBf16);
  ASSERT_FALSE(packed.bf16.empty());
  const double k = static_cast<double>(d.p.in_channels * d.p.kernel * d.p.kernel);
  for (int set : fusion_sets(r.c, Backend::kCpu)) {
    SCOPED_TRACE("fusion=" + fusion_name(set));
    std::vector<float> got = test::poisoned(d.out.size());
    conv2d_cpu(d.p, d.input.data() + d.in.start(), packed, got.data() + d.out.start(),
               conv_fusion(set, host_ptrs(d)));
    // (Not on a handful of outputs: odd_1x1_c1_m1_s1x1's single output is a near-cancellation,
    // -6.9e-4 from terms of 0.1, whose bf16 rounding moves it by 15% of itself.)
    if (d.out.batch * d.out.channels * d.out.plane >= 16)
      expect_matches(d, got, oracle(r.c, d, set), r.impl.tol, r.c.name);
    expect_matches(d, got, rounded_reference(d, set, Precision::kBf16),
                   1e-5 * std::max(1.0, k / 1024.0),
                   r.c.name + " against the exactly rounded operands (1e-3 or more: a pairing "
                              "or indexing error)");
  }
}

void check_cpu(const ConvRun& r, const ConvData& d) {
  if (r.impl.precision == Precision::kBf16) {
    check_cpu_bf16(r, d);
    return;
  }
  if (!cpu_isa_supported(r.impl.isa))
    GTEST_SKIP() << cpu_isa_name(r.impl.isa) << " not supported by this CPU";
  IsaGuard guard(r.impl.isa);
  ScopedCpuConvAlgo algo(r.impl.winograd == 4   ? CpuConvAlgo::kWinograd4All
                         : r.impl.winograd == 2 ? CpuConvAlgo::kWinogradAll
                                                : CpuConvAlgo::kDirect);
  ASSERT_EQ(cpu_isa().isa, r.impl.isa);
  for (int set : fusion_sets(r.c, Backend::kCpu)) {
    SCOPED_TRACE("fusion=" + fusion_name(set));
    std::vector<float> got = test::poisoned(d.out.size());
    conv2d_cpu(d.p, d.input.data() + d.in.start(), d.weight.data(), got.data() + d.out.start(),
               conv_fusion(set, host_ptrs(d)));
    expect_matches(d, got, oracle(r.c, d, set), r.impl.tol, r.c.name);
  }
}

#ifdef DICE_HAVE_CUDA

const std::vector<ConvImpl> kCudaImpls = {
    {"fp32", Backend::kCuda, CpuIsa::kScalar, Precision::kFp32, 1e-5},
    {"fp32_gemm", Backend::kCuda, CpuIsa::kScalar, Precision::kFp32, 1e-5, false, true}};
const std::vector<ConvImpl> kTcImpls = {
    {"tf32", Backend::kTc, CpuIsa::kScalar, Precision::kTf32, 5e-3},
    {"fp16", Backend::kTc, CpuIsa::kScalar, Precision::kFp16, 5e-3},
    {"bf16", Backend::kTc, CpuIsa::kScalar, Precision::kBf16, 1.5e-2}};

struct DeviceConvData {
  DeviceBuffer<float> input, weight, in_scale, in_shift, bias, out_scale, out_shift, residual, out;
  explicit DeviceConvData(const ConvData& d)
      : input(d.input),
        weight(d.weight),
        in_scale(d.in_scale),
        in_shift(d.in_shift),
        bias(d.bias),
        out_scale(d.out_scale),
        out_shift(d.out_shift),
        residual(d.residual),
        out(d.out.size()) {}
  FusionPtrs ptrs(const ConvData& d) const {
    return {in_scale.data(),  in_shift.data(),  bias.data(),
            out_scale.data(), out_shift.data(), residual.data() + d.out.start()};
  }
};

void check_gpu(const ConvRun& r, const ConvData& d) {
  DICE_REQUIRE_GPU();
  const ConvImpl& im = r.impl;
  if (im.backend == Backend::kTc) {
    const std::string why = tensor_cores_unsupported(0);
    if (!why.empty()) GTEST_SKIP() << why;  // an older GPU, not a broken setup
  }
  // Every implementation must run the network rows; an odd size one declines is skipped, saying
  // why (CUTLASS's can_implement).
  auto unsupported = [&](int set) {
    const ConvFusion f = conv_fusion(set, host_ptrs(d));
    if (im.backend == Backend::kCuda) return conv2d_cuda_unsupported(d.p, f);
    if (im.backend == Backend::kTc) return conv2d_tc_unsupported(d.p, f, im.precision);
    return std::string();
  };
  for (int set : fusion_sets(r.c, im.backend)) {
    const std::string why = unsupported(set);
    if (why.empty()) continue;
    ASSERT_EQ(r.c.net, Net::kOdd) << why;
    GTEST_SKIP() << why;
  }

  DeviceConvData dev(d);
  std::unique_ptr<ScopedCudaConvAlgo> algo;
  if (im.backend == Backend::kCuda) {
    const ConvFusion f = conv_fusion(fusion_sets(r.c, im.backend)[0], dev.ptrs(d));
    const char* kernel =
        conv2d_cuda_kernel(d.p, f, dev.input.data() + d.in.start(), dev.out.data() + d.out.start());
    if (im.cuda_gemm && std::string(kernel) == "gemm")
      GTEST_SKIP() << "the default runs the implicit GEMM here too: the fp32 row covers it";
    algo = std::make_unique<ScopedCudaConvAlgo>(im.cuda_gemm ? CudaConvAlgo::kGemm
                                                             : CudaConvAlgo::kAuto);
    std::printf("  conv2d_cuda kernel: %s\n",
                conv2d_cuda_kernel(d.p, f, dev.input.data() + d.in.start(),
                                   dev.out.data() + d.out.start()));
  }
  Stream stream;
#ifdef DICE_HAVE_CUDNN
  std::unique_ptr<CudnnConv2d> cudnn;
  if (im.backend == Backend::kCudnn)
    cudnn = std::make_unique<CudnnConv2d>(d.p, stream.get(), im.precision == Precision::kTf32);
#endif
  DeviceBuffer<uint8_t> packed;
  if (im.backend == Backend::kTc)
    packed = DeviceBuffer<uint8_t>(conv2d_tc_pack_weights(d.p, im.precision, d.weight.data()));
  const int runs = d.p.flops() < 1e8 ? 2 : 1;
  for (int set : fusion_sets(r.c, im.backend)) {
    const ConvFusion f = conv_fusion(set, dev.ptrs(d));
    const float* x = dev.input.data() + d.in.start();
    float* y = dev.out.data() + d.out.start();
    for (int run = 0; run < runs; ++run) {
      SCOPED_TRACE("fusion=" + fusion_name(set) + " run " + std::to_string(run));
      dev.out.poison();
      if (im.backend == Backend::kCuda) conv2d_cuda(d.p, x, dev.weight.data(), y, f, stream);
      if (im.backend == Backend::kTc) conv2d_tc(d.p, im.precision, x, packed.data(), y, f, stream);
#ifdef DICE_HAVE_CUDNN
      if (im.backend == Backend::kCudnn) cudnn->run(x, dev.weight.data(), y);
#endif
      stream.synchronize();
      const std::vector<float> got = dev.out.download();
      expect_matches(d, got, oracle(r.c, d, set), im.tol, r.c.name);
      if (im.backend == Backend::kTc) {
        const double k = static_cast<double>(d.p.in_channels * d.p.kernel * d.p.kernel);
        const double tol = 1e-5 * std::max(1.0, k / 1024.0);
        expect_matches(d, got, rounded_reference(d, set, im.precision), tol,
                       r.c.name +
                           " against the exactly rounded operands (1e-3 or more: an "
                           "indexing or fragment-layout error; 1e-5..1e-4: operand "
                           "rounding or the tensor cores' accumulation)");
      }
    }
  }
}

#endif  // DICE_HAVE_CUDA

void check_conv(const ConvRun& r) {
  const ConvData d(r.c);
  if (r.impl.backend == Backend::kCpu) {
    check_cpu(r, d);
    return;
  }
#ifdef DICE_HAVE_CUDA
  check_gpu(r, d);
#endif
}

class Conv2dTest : public ::testing::TestWithParam<ConvRun> {};

// The Winograd rows run only on Winograd shapes (3x3, pad 1, stride 1 or 2; the F(4x4) rows
// stride 1 only, since kWinograd4All runs stride 2 on the direct path); the direct rows cover the
// rest.
bool cpu_runs(const ConvCase& c, const ConvImpl& impl) {
  const Conv2dParams p = c.params(c.batch);
  return !impl.winograd || (conv2d_winograd_shape(p) && (impl.winograd == 2 || p.stride == 1));
}

DICE_OP_TEST_IF(Conv2dCpu, Conv2dTest, MatchesNaive, check_conv, test::conv_cases(),
                kCpuImpls, cpu_runs);

#ifdef DICE_HAVE_CUDA
DICE_OP_TEST(Conv2dCuda, Conv2dTest, MatchesNaive, check_conv, test::conv_cases(),
             kCudaImpls);

DICE_OP_TEST(Conv2dTc, Conv2dTest, MatchesNaive, check_conv, test::conv_cases(),
             kTcImpls);

// 3xtf32 at float32's bound (tf32's 5e-3 would fail it: a missing small-part product shows). On
// the DenseNet and odd shapes: the ResNet-size rows would add minutes of emulation to CI for the
// same code path.
const std::vector<ConvImpl> kTc3Impls = {
    {"3xtf32", Backend::kTc, CpuIsa::kScalar, Precision::k3xTf32, 1e-5}};
bool tc3_runs(const ConvCase& c, const ConvImpl&) { return c.net != Net::kResNet; }
DICE_OP_TEST_IF(Conv2dTc3xTf32, Conv2dTest, MatchesNaive, check_conv, test::conv_cases(),
                kTc3Impls, tc3_runs);
#endif

#ifdef DICE_HAVE_CUDNN
const std::vector<ConvImpl> kCudnnImpls = {
    {"cudnn_fp32", Backend::kCudnn, CpuIsa::kScalar, Precision::kFp32, 1e-4},
    {"cudnn_tf32", Backend::kCudnn, CpuIsa::kScalar, Precision::kTf32, 5e-3}};
DICE_OP_TEST(Conv2dCudnn, Conv2dTest, MatchesNaive, check_conv, test::conv_cases(),
             kCudnnImpls);
#endif

// ---- conv2d_cpu beyond the shapes ----

// bf16 mode under the default CpuConvAlgo: a stride-1 conv that Winograd takes keeps it in fp32
// (fp32's bound against the spec), the others run bf16 (not within it: a 1x1, and a 3x3/2, which
// Winograd takes in fp32 mode), and none reads `a`.
TEST(Conv2dCpuBf16, WinogradShapesStayFp32UnderTheDefault) {
  if (!cpu_isa_bf16()) GTEST_SKIP() << "this CPU has no AVX512-BF16";
  ScopedCpuConvAlgo algo(CpuConvAlgo::kWinograd);
  for (int ks : {31, 11, 32}) {
    const int kernel = ks / 10, stride = ks % 10;
    SCOPED_TRACE("kernel " + std::to_string(kernel) + " stride " + std::to_string(stride));
    Conv2dParams p;
    p.batch = 2, p.in_channels = 64, p.height = p.width = 28, p.out_channels = 64;
    p.kernel = kernel, p.pad = kernel / 2, p.stride = stride;
    if (stride == 2) {
      EXPECT_EQ(conv2d_winograd_tile(p, false), 2) << "fp32 mode runs it Winograd";
    }
    const auto x = test::random_floats(p.batch * p.in_stride(), 11, -1, 1);
    const auto w = test::random_floats(64 * 64 * kernel * kernel, 12, -0.2f, 0.2f);
    std::vector<float> want(static_cast<size_t>(p.batch * p.out_stride())), got(want.size());
    conv2d_naive(p, x.data(), w.data(), want.data(), {});
    const Conv2dCpuPacked packed = conv2d_cpu_pack(p, w.data(), Precision::kBf16);
    EXPECT_TRUE(packed.a.empty());
    EXPECT_EQ(packed.winograd.empty(), kernel == 1 || stride == 2);
    conv2d_cpu(p, x.data(), packed, got.data());
    const double err = test::normalized_error(got.data(), want.data(),
                                              static_cast<int64_t>(want.size()), 1.0, "bf16");
    if (kernel == 3 && stride == 1)
      EXPECT_LT(err, 2e-5);
    else
      EXPECT_GT(err, 1e-4) << "bf16 mode came out at fp32's accuracy: did it run fp32?";
  }
}

// Thread count changes the tiling (few images are cut into more tiles): results must not change.
TEST(Conv2dCpuThreads, SameResultForOneAndTwoThreads) {
  Conv2dParams p;  // 21 MFLOP: above the size that conv2d_cpu runs on one thread
  p.batch = 2, p.in_channels = 48, p.height = 32, p.width = 32, p.out_channels = 12;
  p.kernel = 3, p.pad = 1;
  ASSERT_GT(p.flops(), 16e6);
  const auto x = test::random_floats(2 * 48 * 32 * 32, 3, -1, 1);
  const auto w = test::random_floats(12 * 48 * 9, 4, -0.1f, 0.1f);
  std::vector<float> y1(2 * 12 * 32 * 32), y2(2 * 12 * 32 * 32);
  const int old = num_threads();
  set_num_threads(1);
  conv2d_cpu(p, x.data(), w.data(), y1.data());
  set_num_threads(2);
  conv2d_cpu(p, x.data(), w.data(), y2.data());
  set_num_threads(old);
  EXPECT_EQ(y1, y2);
}

// rows-t mode (a strided 1x1 at batch 1 whose output map wastes micro-tile columns: 7x7, 14x14)
// against conv2d_naive on every ISA, with W^T packed by conv2d_cpu_pack and packed per call; and
// bitwise equal to the same image run in a batch of two (phase mode), so an image's output does
// not depend on its batch. 40 output channels: a part-filled last chunk of W^T.
TEST(Conv2dCpuRowsT, StridedOneByOneAtBatchOneMatchesNaiveAndItsBatch) {
  struct Shape {
    int64_t c, m, h;
  };
  for (const Shape s : {Shape{24, 40, 14}, Shape{16, 64, 27}}) {
    Conv2dParams p2;
    p2.batch = 2, p2.in_channels = s.c, p2.height = s.h, p2.width = s.h, p2.out_channels = s.m;
    p2.kernel = 1, p2.stride = 2;
    Conv2dParams p1 = p2;
    p1.batch = 1;
    const int64_t n = p1.out_height() * p1.out_width(), out1 = s.m * n;
    SCOPED_TRACE("output " + std::to_string(p1.out_height()) + "x" + std::to_string(p1.out_width()));
    const auto x = test::random_floats(2 * s.c * s.h * s.h, 11, -1, 1);
    const auto w = test::random_floats(s.m * s.c, 12, -0.2f, 0.2f);
    const auto bias = test::random_floats(s.m, 13, -0.5f, 0.5f);
    const auto res = test::random_floats(2 * out1, 14, -1, 1);
    ConvFusion f;
    f.bias = bias.data(), f.residual = res.data(), f.out_relu = true;
    std::vector<float> want(static_cast<size_t>(out1));
    conv2d_naive(p1, x.data(), w.data(), want.data(), f);
    for_each_cpu_isa([&](CpuIsa isa) {
      const Conv2dCpuPacked pk = conv2d_cpu_pack(p1, w.data());
      if (isa == CpuIsa::kAvx512) {
        EXPECT_FALSE(pk.at.empty()) << "rows-t mode not chosen";
      }
      std::vector<float> y1(static_cast<size_t>(out1)), y1u(y1.size()), y2(2 * y1.size());
      conv2d_cpu(p1, x.data(), pk, y1.data(), f);
      conv2d_cpu(p1, x.data(), w.data(), y1u.data(), f);
      conv2d_cpu(p2, x.data(), pk, y2.data(), f);
      EXPECT_LT(test::normalized_error(y1.data(), want.data(), out1, 1e-5, "rows-t"), 1e-5);
      EXPECT_EQ(y1, y1u) << "packed and per-call W^T differ";
      EXPECT_TRUE(std::equal(y1.begin(), y1.end(), y2.begin())) << "batch 1 != image 0 of batch 2";
    });
  }
}

// A strided 3x3 at batch 1 whose output channels outnumber its output pixels splits them between
// the threads, which then share one phase split of the image (split by channel ranges): equal to
// conv2d_naive, and bitwise to the same image in a batch of two (one split per image), with the
// BN prologue (applied during the split) on. (The shared split needs two threads and 8 MFLOP.)
// The shared-split problem: 67 channels of 15x14, stride 2, 256 outputs, BN prologue and ReLU on.
struct SharedSplitCase {
  Conv2dParams p1, p2;  // batch 1 and batch 2
  std::vector<float> x, w, sc, sh;
  ConvFusion f;
  explicit SharedSplitCase(uint64_t seed) {
    p2.batch = 2, p2.in_channels = 67, p2.height = 15, p2.width = 14, p2.out_channels = 256;
    p2.kernel = 3, p2.stride = 2, p2.pad = 1;
    p1 = p2;
    p1.batch = 1;
    x = test::random_floats(2 * p2.in_stride(), seed, -1, 1);
    w = test::random_floats(256 * 67 * 9, seed + 1, -0.2f, 0.2f);
    sc = test::random_floats(67, seed + 2, 0.5f, 1.5f);
    sh = test::random_floats(67, seed + 3, -0.5f, 0.5f);
    f.in_scale = sc.data(), f.in_shift = sh.data(), f.out_relu = true;
  }
};

// Phase mode itself: under the default setting this shape (16 2x2 tiles per image) runs Winograd
// at stride 2 (conv2d_winograd_s2_pays), which conv2d_winograd_test.cpp covers.
TEST(Conv2dCpuPhases, SharedSplitAtBatchOneMatchesNaiveAndItsBatch) {
  ScopedCpuConvAlgo direct(CpuConvAlgo::kDirect);
  const SharedSplitCase c(21);
  const int64_t out1 = c.p1.out_stride();
  std::vector<float> want(static_cast<size_t>(out1));
  conv2d_naive(c.p1, c.x.data(), c.w.data(), want.data(), c.f);
  for_each_cpu_isa([&](CpuIsa) {
    std::vector<float> y1(static_cast<size_t>(out1), NAN), y2(2 * y1.size(), NAN);
    conv2d_cpu(c.p1, c.x.data(), c.w.data(), y1.data(), c.f);
    conv2d_cpu(c.p2, c.x.data(), c.w.data(), y2.data(), c.f);
    EXPECT_LT(test::normalized_error(y1.data(), want.data(), out1, 1e-5, "phases"), 1e-5);
    EXPECT_TRUE(std::equal(y1.begin(), y1.end(), y2.begin())) << "batch 1 != image 0 of batch 2";
  });
}

// The same in bf16 mode (where the split is into pairs of channels, 67 = 33 pairs + 1 alone), on
// two threads so that batch 1 takes the shared split: against conv2d_naive on the exactly rounded
// operands, and bitwise equal to image 0 of a batch of two.
TEST(Conv2dCpuBf16, SharedSplitAtBatchOneMatchesRoundedAndItsBatch) {
  if (!cpu_isa_bf16()) GTEST_SKIP() << "this CPU has no AVX512-BF16";
  ScopedCpuConvAlgo direct(CpuConvAlgo::kDirect);  // phase mode, as above
  const SharedSplitCase c(31);
  const int64_t out1 = c.p1.out_stride(), plane = 15 * 14;
  // The reference: the prologue in float32 (fma, as the kernels), both operands rounded to bf16.
  std::vector<float> xr(c.x.begin(), c.x.begin() + c.p1.in_stride()), wr(c.w);
  for (int64_t ch = 0; ch < 67; ++ch)
    for (int64_t i = 0; i < plane; ++i) {
      float& v = xr[static_cast<size_t>(ch * plane + i)];
      v = round_to_precision(std::fmax(std::fma(v, c.sc[ch], c.sh[ch]), 0.0f), Precision::kBf16);
    }
  for (float& v : wr) v = round_to_precision(v, Precision::kBf16);
  ConvFusion fr;
  fr.out_relu = true;
  std::vector<float> want(static_cast<size_t>(out1));
  conv2d_naive(c.p1, xr.data(), wr.data(), want.data(), fr);
  const Conv2dCpuPacked packed = conv2d_cpu_pack(c.p1, c.w.data(), Precision::kBf16);
  const int old = num_threads();
  set_num_threads(2);
  std::vector<float> y1(static_cast<size_t>(out1), NAN), y2(2 * y1.size(), NAN);
  conv2d_cpu(c.p1, c.x.data(), packed, y1.data(), c.f);
  conv2d_cpu(c.p2, c.x.data(), packed, y2.data(), c.f);
  set_num_threads(old);
  EXPECT_LT(test::normalized_error(y1.data(), want.data(), out1, 1e-5, "bf16 phases"), 1e-5);
  EXPECT_TRUE(std::equal(y1.begin(), y1.end(), y2.begin())) << "batch 1 != image 0 of batch 2";
}

TEST(Conv2dCpuIsa, ForcingSelectsThePathAndFallsBack) {
  {
    IsaGuard g(CpuIsa::kScalar);
    EXPECT_EQ(cpu_isa().isa, CpuIsa::kScalar);
  }
  {
    IsaGuard g(CpuIsa::kAvx512);
    const CpuIsa best = cpu_isa_supported(CpuIsa::kAvx512) ? CpuIsa::kAvx512
                        : cpu_isa_supported(CpuIsa::kAvx2) ? CpuIsa::kAvx2
                                                           : CpuIsa::kScalar;
    EXPECT_EQ(cpu_isa().isa, best);
    std::printf("  best CPU path here: %s\n", cpu_isa_name(best));
  }
  EXPECT_TRUE(cpu_isa_supported(CpuIsa::kScalar));
}

TEST(Conv2dCpu, EmptyBatchWritesNothing) {
  Conv2dParams p;
  p.batch = 0, p.in_channels = 3, p.height = 4, p.width = 4, p.out_channels = 2;
  float w[6] = {1, 2, 3, 4, 5, 6};
  conv2d_cpu(p, nullptr, w, nullptr);
  SUCCEED();
}

#ifdef DICE_HAVE_CUDA

// ---- argument checks: before any CUDA call, so they run without a GPU too ----

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

// Which kernel conv2d_cuda picks (host-side, no GPU needed): conv2d_thin for every DenseNet-BC
// conv and the odd rows made for it, the implicit GEMM past 192 outputs, for misaligned tensors,
// other shapes, and everything under CudaConvAlgo::kGemm. Pointers are only checked, never read.
TEST(Conv2dCudaArgs, ThinKernelTakesTheThinShapes) {
  const float* in = reinterpret_cast<const float*>(uintptr_t{1} << 20);
  float* out = reinterpret_cast<float*>(uintptr_t{1} << 21);
  ScopedCudaConvAlgo algo(CudaConvAlgo::kAuto);
  int thin = 0;
  for (const ConvCase& c : test::densenet_conv_cases()) {
    EXPECT_STREQ(conv2d_cuda_kernel(c.params(), {}, in, out), "thin") << c.name;
    ++thin;
  }
  for (const ConvCase& c : test::odd_conv_cases()) {
    if (c.name.rfind("odd_thin_", 0) != 0) continue;
    const bool want_thin = c.out_channels <= 192;
    EXPECT_STREQ(conv2d_cuda_kernel(c.params(), {}, in, out), want_thin ? "thin" : "gemm") << c.name;
    thin += want_thin;
  }
  EXPECT_GE(thin, 15);
  Conv2dParams p;
  p.batch = 2, p.in_channels = 48, p.height = 8, p.width = 8, p.out_channels = 12;
  p.kernel = 3, p.pad = 1;
  EXPECT_STREQ(conv2d_cuda_kernel(p, {}, in, out), "thin");
  EXPECT_STREQ(conv2d_cuda_kernel(p, {}, in + 1, out), "gemm");  // not 16-byte aligned
  ConvFusion f;
  f.residual = out + 2;
  EXPECT_STREQ(conv2d_cuda_kernel(p, f, in, out), "gemm");
  Conv2dParams odd = p;
  odd.width = 6;
  EXPECT_STREQ(conv2d_cuda_kernel(odd, {}, in, out), "gemm");
  odd = p, odd.stride = 2;
  EXPECT_STREQ(conv2d_cuda_kernel(odd, {}, in, out), "gemm");
  odd = p, odd.in_batch_stride = 48 * 64 + 2;
  EXPECT_STREQ(conv2d_cuda_kernel(odd, {}, in, out), "gemm");
  odd = p, odd.kernel = 1, odd.pad = 0, odd.height = 3, odd.width = 5;  // 15 pixels
  EXPECT_STREQ(conv2d_cuda_kernel(odd, {}, in, out), "gemm");
  odd.width = 4;
  EXPECT_STREQ(conv2d_cuda_kernel(odd, {}, in, out), "thin");
  ScopedCudaConvAlgo gemm(CudaConvAlgo::kGemm);
  EXPECT_STREQ(conv2d_cuda_kernel(p, {}, in, out), "gemm");
  EXPECT_THROW(parse_cuda_conv_algo("thin", "DICE_CUDA_CONV"), Error);
  EXPECT_EQ(parse_cuda_conv_algo("gemm", "x"), CudaConvAlgo::kGemm);
}

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

#endif  // DICE_HAVE_CUDA

}  // namespace
}  // namespace dice
