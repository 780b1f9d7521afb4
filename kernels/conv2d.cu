// conv2d_cuda: 2-D convolution as an implicit GEMM, fp32, with the fusions of kernels/conv2d.h.
// (conv2d_cuda hands the thin shapes, DenseNet-BC's convs among them, to conv2d_thin.cu unless
// CudaConvAlgo::kGemm is set; see conv2d_cuda.h.)
//
// GEMM view: M = out_channels (rows of the weight matrix [O][C*k*k], contiguous in K),
// N = batch * out_height * out_width (one column per output pixel), K = in_channels * k * k.
// The B operand (im2col) is never materialised: each element is gathered from the NCHW input when
// its K-slab is staged, and the DenseNet pre-activation relu(x * in_scale[c] + in_shift[c]) is
// applied right there, on in-bounds elements only, so that zero padding stays zero *after* the
// activation as in PyTorch's conv(relu(bn(x))).
//
// Tiling: a block owns a BM x 64 output tile (BM = 16 * TM; TM = 1, 2 or 4 is picked from
// out_channels so the thin DenseNet layers, 12 and 24 output channels, do not waste a 64-row tile).
// 256 threads form a 16 x 16 grid; thread (ty, tx) accumulates rows ty + 16*i and columns
// tx + 16*j, a TM x 4 register tile. The strided (not blocked) assignment makes shared-memory
// reads broadcast or conflict-free and makes the epilogue's stores coalesce along the pixels.
// K advances in slabs of 16: the next slab is loaded into registers while the current one, in
// shared memory, is multiplied. Every thread sums its K terms in increasing k order, the same order
// as conv2d_naive, so results match the reference closely.
//
// The kernel size is a template parameter for 1 and 3 (the divisions decoding k -> (c, ky, kx)
// become multiplications); other sizes (ResNet's 7x7 stem) take the generic instance.
#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "kernels/conv2d_cuda.h"
#include "kernels/conv2d_thin.h"
#include "gpu/cuda_check.h"
#include "gpu/cuda_launch.h"

namespace dice {

namespace {

constexpr int kThreads = 256;  // a 16 x 16 thread grid
constexpr int kTileN = 64;     // output pixels per block
constexpr int kTileK = 16;     // K per shared-memory slab

// Geometry in 32-bit ints (checked on the host), batch strides in 64-bit.
struct ConvShape {
  int C, H, W, O, OH, OW, ksize, stride, pad;
  int K;  // C * ksize * ksize
  int N;  // batch * OH * OW
  int64_t in_stride, out_stride;
};

// One block per (16*TM) x 64 tile of out_channels x (batch*pixels); 256 threads, each a TM x 4
// register tile; K-slabs of 16 staged in shared memory with a register prefetch of the next slab.
template <int KS, int TM>
__global__ void __launch_bounds__(kThreads)
    conv2d_implicit_gemm_kernel(ConvShape s, const float* __restrict__ in,
                                const float* __restrict__ weight, float* out, ConvFusion f) {
  constexpr int BM = 16 * TM;
  // As is the weight slab transposed (As[k][m]); the +1 pad spreads the transposing stores over
  // banks. Bs is the gathered input slab, Bs[k][n].
  DICE_SHARED(float, As, [kTileK][BM + 1]);
  DICE_SHARED(float, Bs, [kTileK][kTileN]);

  const int tid = static_cast<int>(threadIdx.x);
  const int tx = tid % 16, ty = tid / 16;
  // A 1-D grid with the M (output-channel) tiles fastest: the blocks that share a tile of input
  // pixels run side by side, so the input comes from DRAM about once instead of once per M tile.
  const int m_tiles = (s.O + BM - 1) / BM;
  const int m0 = static_cast<int>(blockIdx.x % static_cast<unsigned>(m_tiles)) * BM;
  const int n0 = static_cast<int>(blockIdx.x / static_cast<unsigned>(m_tiles)) * kTileN;
  const int ks = KS > 0 ? KS : s.ksize;
  const int ks2 = ks * ks;
  const int HW = s.H * s.W;
  const int OHW = s.OH * s.OW;

  // A loader: column a_k of the slab, rows a_m + 16*i (i < TM).
  const int a_k = tid % kTileK;
  const int a_m = tid / kTileK;
  // B loader: column b_n of the tile (one fixed output pixel), slab rows b_k + 4*i (i < 4).
  const int b_n = tid % kTileN;
  const int b_k = tid / kTileN;
  const int n_load = n0 + b_n;
  const bool n_ok = n_load < s.N;
  int iy0 = 0, ix0 = 0;
  const float* in_img = in;
  if (n_ok) {
    const int img = n_load / OHW;
    const int pix = n_load - img * OHW;
    const int oy = pix / s.OW;
    const int ox = pix - oy * s.OW;
    iy0 = oy * s.stride - s.pad;
    ix0 = ox * s.stride - s.pad;
    in_img = in + static_cast<int64_t>(img) * s.in_stride;
  }

  float a_reg[TM], b_reg[4];
  auto load_slab = [&](int k0) {
#pragma unroll
    for (int i = 0; i < TM; ++i) {
      const int m = m0 + a_m + 16 * i;
      const int k = k0 + a_k;
      a_reg[i] = (m < s.O && k < s.K) ? __ldg(weight + static_cast<int64_t>(m) * s.K + k) : 0.0f;
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int k = k0 + b_k + 4 * i;
      float v = 0.0f;
      if (n_ok && k < s.K) {
        const int c = k / ks2;
        const int r = k - c * ks2;
        const int ky = r / ks;
        const int kx = r - ky * ks;
        const int iy = iy0 + ky, ix = ix0 + kx;
        if (iy >= 0 && iy < s.H && ix >= 0 && ix < s.W) {
          v = __ldg(in_img + static_cast<int64_t>(c) * HW + iy * s.W + ix);
          if (f.in_scale) v = fmaxf(v * __ldg(f.in_scale + c) + __ldg(f.in_shift + c), 0.0f);
        }
      }
      b_reg[i] = v;
    }
  };

  float acc[TM][4];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;

  load_slab(0);
  for (int k0 = 0; k0 < s.K; k0 += kTileK) {
#pragma unroll
    for (int i = 0; i < TM; ++i) As[a_k][a_m + 16 * i] = a_reg[i];
#pragma unroll
    for (int i = 0; i < 4; ++i) Bs[b_k + 4 * i][b_n] = b_reg[i];
    __syncthreads();                                // the slab is complete
    if (k0 + kTileK < s.K) load_slab(k0 + kTileK);  // global loads overlap the FMAs below
#pragma unroll
    for (int kk = 0; kk < kTileK; ++kk) {
      float a[TM], b[4];
#pragma unroll
      for (int i = 0; i < TM; ++i) a[i] = As[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) b[j] = Bs[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();  // everyone is done reading before the next slab overwrites it
  }

  // Epilogue: bias, folded BN of the next layer, residual, ReLU; channel-slice output strides.
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const int n = n0 + tx + 16 * j;
    if (n >= s.N) continue;
    const int img = n / OHW;
    const int pix = n - img * OHW;
    const int64_t obase = static_cast<int64_t>(img) * s.out_stride + pix;
#pragma unroll
    for (int i = 0; i < TM; ++i) {
      const int m = m0 + ty + 16 * i;
      if (m >= s.O) continue;
      float y = acc[i][j];
      if (f.bias) y += __ldg(f.bias + m);
      if (f.out_scale) y = y * __ldg(f.out_scale + m) + __ldg(f.out_shift + m);
      const int64_t o = obase + static_cast<int64_t>(m) * OHW;
      if (f.residual) y += f.residual[o];
      if (f.out_relu) y = fmaxf(y, 0.0f);
      out[o] = y;
    }
  }
}

template <int KS>
void launch_for_kernel_size(const ConvShape& s, const float* in, const float* weight, float* out,
                            const ConvFusion& f, cudaStream_t stream) {
  // The smallest row tile that covers out_channels without much waste.
  const int tm = s.O <= 16 ? 1 : s.O <= 32 ? 2 : 4;
  const dim3 block(kThreads);
  // M tiles fastest (see the kernel); conv2d_cuda_unsupported keeps the block count in range.
  const int64_t blocks = ((s.N + kTileN - 1) / kTileN) * ((s.O + 16 * tm - 1) / (16 * tm));
  const dim3 grid(static_cast<unsigned>(blocks));
  if (tm == 1)
    launch_kernel(conv2d_implicit_gemm_kernel<KS, 1>, grid, block, 0, stream, s, in, weight, out, f);
  else if (tm == 2)
    launch_kernel(conv2d_implicit_gemm_kernel<KS, 2>, grid, block, 0, stream, s, in, weight, out, f);
  else
    launch_kernel(conv2d_implicit_gemm_kernel<KS, 4>, grid, block, 0, stream, s, in, weight, out, f);
  DICE_CUDA_CHECK_LAUNCH();
}

std::atomic<int> g_algo{-1};  // -1: not read from DICE_CUDA_CONV yet

}  // namespace

CudaConvAlgo parse_cuda_conv_algo(const char* name, const char* what) {
  if (!std::strcmp(name, "auto")) return CudaConvAlgo::kAuto;
  if (!std::strcmp(name, "gemm")) return CudaConvAlgo::kGemm;
  throw_error(what, "='", name, "' is not one of auto, gemm");
}

CudaConvAlgo cuda_conv_algo() {
  int a = g_algo.load(std::memory_order_relaxed);
  if (a < 0) {
    const char* e = std::getenv("DICE_CUDA_CONV");
    a = static_cast<int>(e && *e ? parse_cuda_conv_algo(e, "DICE_CUDA_CONV") : CudaConvAlgo::kAuto);
    g_algo.store(a, std::memory_order_relaxed);
  }
  return static_cast<CudaConvAlgo>(a);
}

CudaConvAlgo set_cuda_conv_algo(CudaConvAlgo algo) {
  const CudaConvAlgo old = cuda_conv_algo();
  g_algo.store(static_cast<int>(algo), std::memory_order_relaxed);
  return old;
}

const char* conv2d_cuda_kernel(const Conv2dParams& p, const ConvFusion& f, const float* in,
                               const float* out) {
  const bool thin = cuda_conv_algo() == CudaConvAlgo::kAuto &&
                    conv2d_thin_unsupported(p, f, in, out).empty();
  return thin ? "thin" : "gemm";
}

std::string conv2d_cuda_unsupported(const Conv2dParams& p, const ConvFusion& f) {
  std::ostringstream why;
  if (p.batch < 0 || p.in_channels <= 0 || p.height <= 0 || p.width <= 0 || p.out_channels <= 0 ||
      p.kernel <= 0 || p.stride <= 0 || p.pad < 0)
    why << "sizes must be positive (batch >= 0, pad >= 0)";
  else if (p.out_height() <= 0 || p.out_width() <= 0)
    why << "kernel " << p.kernel << " does not fit a " << p.height << "x" << p.width
        << " input with pad " << p.pad;
  else if (p.in_batch_stride != 0 && p.in_batch_stride < p.in_channels * p.height * p.width)
    why << "in_batch_stride " << p.in_batch_stride << " is smaller than one image";
  else if (p.out_batch_stride != 0 &&
           p.out_batch_stride < p.out_channels * p.out_height() * p.out_width())
    why << "out_batch_stride " << p.out_batch_stride << " is smaller than one image";
  else if ((f.in_scale == nullptr) != (f.in_shift == nullptr) ||
           (f.out_scale == nullptr) != (f.out_shift == nullptr))
    why << "fusion scale and shift must be given together";
  else if (p.batch * p.out_height() * p.out_width() > INT_MAX - kTileN ||  // n0 + 63 fits
           p.in_channels * p.kernel * p.kernel > INT_MAX - kTileK ||        // k0 + 16 fits
           p.height * p.width >= INT_MAX ||
           p.out_height() * p.out_width() >= INT_MAX ||
           p.stride * p.out_height() + p.kernel >= INT_MAX ||
           p.stride * p.out_width() + p.kernel >= INT_MAX)
    why << "the problem exceeds the kernel's 32-bit pixel/K indexing; split the batch";
  else if ((p.batch * p.out_height() * p.out_width() + kTileN - 1) / kTileN *
               ((p.out_channels + 15) / 16) > INT_MAX)
    why << "the grid would need more than 2^31 - 1 blocks; split the batch";
  if (!why.str().empty()) return "conv2d_cuda: " + why.str();
  return {};
}

void conv2d_cuda(const Conv2dParams& p, const float* in, const float* weight, float* out,
                 const ConvFusion& f, cudaStream_t stream) {
  const std::string why = conv2d_cuda_unsupported(p, f);
  if (!why.empty()) throw Error(why);
  if (p.batch == 0) return;
  if (std::strcmp(conv2d_cuda_kernel(p, f, in, out), "thin") == 0) {
    conv2d_thin(p, in, weight, out, f, stream);
    return;
  }

  ConvShape s;
  s.C = static_cast<int>(p.in_channels);
  s.H = static_cast<int>(p.height);
  s.W = static_cast<int>(p.width);
  s.O = static_cast<int>(p.out_channels);
  s.OH = static_cast<int>(p.out_height());
  s.OW = static_cast<int>(p.out_width());
  s.ksize = static_cast<int>(p.kernel);
  s.stride = static_cast<int>(p.stride);
  s.pad = static_cast<int>(p.pad);
  s.K = static_cast<int>(p.in_channels * p.kernel * p.kernel);
  s.N = static_cast<int>(p.batch * p.out_height() * p.out_width());
  s.in_stride = p.in_stride();
  s.out_stride = p.out_stride();

  if (p.kernel == 1)
    launch_for_kernel_size<1>(s, in, weight, out, f, stream);
  else if (p.kernel == 3)
    launch_for_kernel_size<3>(s, in, weight, out, f, stream);
  else
    launch_for_kernel_size<0>(s, in, weight, out, f, stream);
}

}  // namespace dice
