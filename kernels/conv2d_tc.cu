// conv2d_tc: 2-D convolution as an implicit GEMM on the tensor cores (mma.sync, sm_80 and newer):
// fp16 or bf16 operands through mma.m16n8k16, tf32 through mma.m16n8k8 (also 3xTF32: float32
// accuracy from three tf32 mma per product, see Tf32x3Op), float32 accumulation, and the fused
// epilogue of conv2d_cuda (bias, folded BN, residual, ReLU).
//
// GEMM view, as in conv2d_cuda: M = out_channels (rows of the packed weights), N = batch * out_h *
// out_w (one column per output pixel), K = C * k * k in PyTorch's (c, ky, kx) order. A is the
// weight matrix packed at plan time (conv2d_tc_pack_weights: operand type, zero-padded to whole
// tiles, so A loads are unconditional 16-byte loads); B (im2col) is gathered from the NCHW float32
// input while a slab is staged, with the optional pre-activation relu(x*s+t) applied in float32 on
// in-bounds elements, then rounded to the operand type (cvt.rn to fp16/bf16, cvt.rna to tf32).
//
// Layout choice: activations stay NCHW float32, as for conv2d_cuda, so the network can mix the two
// kernels layer by layer (and fall back per layer) with the same buffers, pools and residuals.
// The cost is bandwidth: each activation is read as 4 bytes instead of 2 and the im2col gather
// walks pixels (coalesced along N for stride 1) rather than 16-byte channel vectors. NHWC fp16
// activations (a C-contiguous K order, cp.async 16-byte gathers, half the bytes) are the next step
// once this first cut is validated on a device; they change every op around the convolutions.
//
// Tiling: one block of 256 threads (8 warps) per 64 x 128 (M x N) output tile; K advances in
// slabs of 32. Warps form a 2 (M) x 4 (N) grid, each owning a 32 x 32 warp tile = 2 x 4 mma tiles
// of 16 x 8, i.e. 32 float accumulators per thread. Shared memory holds one slab of A as
// As[m][k] and one of B transposed, Bs[n][k], both K-contiguous, as 32-bit words (two fp16/bf16
// or one tf32 per word) with rows padded by 4 words: with 20 (16-bit) or 36 (tf32) words per row
// the fragment loads of a warp (rows g = 0..7, word t = 0..3 within the row) hit 32 distinct banks.
// The next slab is loaded into registers while the current one is multiplied (register double
// buffering, two barriers per slab).
//
// Fragments: kernels/mma_fragments.h gives, for each lane and register, the (row, col) it holds;
// the kernel reads shared memory and writes results only through those functions, and a host test
// checks them against the PTX ISA tables. A 16-bit register holds two K-adjacent elements (low
// half first), which is why both tiles are stored K-contiguous: one 32-bit load per register.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <climits>
#include <cstring>
#include <sstream>

#include "kernels/conv2d_tc.h"
#include "gpu/cuda_check.h"
#include "gpu/cuda_launch.h"
#include "gpu/ptx.h"
#include "kernels/mma_fragments.h"

namespace dice {
namespace {

using Tile = Conv2dTcTile;
constexpr int kThreads = 256;
constexpr int kWarpsM = 2, kWarpsN = 4;  // 8 warps
constexpr int kWarpTileM = Tile::kM / kWarpsM;  // 32
constexpr int kWarpTileN = Tile::kN / kWarpsN;  // 32
constexpr int kMmaTilesM = kWarpTileM / 16;     // 2 mma tiles of 16 rows
constexpr int kMmaTilesN = kWarpTileN / 8;      // 4 mma tiles of 8 columns
static_assert(kWarpsM * kWarpsN * 32 == kThreads, "one warp per warp tile");

// Geometry in 32-bit ints (checked on the host), batch strides in 64-bit.
struct TcShape {
  int C, H, W, O, OH, OW, ksize, stride, pad;
  int K;   // C * ksize * ksize
  int Kp;  // K rounded up to Tile::kK: the packed weight row length
  int N;   // batch * OH * OW
  int64_t in_stride, out_stride;
};

// Operand traits: element size, mma K, conversion of float pairs into a 32-bit word, where register
// r of the A and B fragments starts (its first element; a 16-bit register's second element is the
// next K), and the mma itself (gpu/ptx.h: inline PTX, or cuda_emu's emulation of it; the host
// refuses devices below sm_80, tensor_cores_unsupported).
// fp16 and bf16: the same m16n8k16 shape and fragments; they differ in the conversion and the
// instruction's type.
template <bool kBf16>
struct Half16Op {
  static constexpr int kBytes = 2, kMmaK = 16;
  static constexpr bool kSplit = false;
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    uint32_t r;
    if constexpr (kBf16) {
      const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);  // .x (low 16 bits) = lo
      memcpy(&r, &h, sizeof r);
    } else {
      const __half2 h = __floats2half2_rn(lo, hi);
      memcpy(&r, &h, sizeof r);
    }
    return r;
  }
  static __device__ __forceinline__ mma::RowCol a_reg(int lane, int r) {
    return mma::a_m16n8k16(lane, 2 * r);
  }
  static __device__ __forceinline__ mma::RowCol b_reg(int lane, int r) {
    return mma::b_m16n8k16(lane, 2 * r);
  }
  static __device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4],
                                             const uint32_t (&b)[2]) {
    if constexpr (kBf16)
      ptx::mma_m16n8k16_bf16(d, a, b);
    else
      ptx::mma_m16n8k16_f16(d, a, b);
  }
};
using F16Op = Half16Op<false>;
using Bf16Op = Half16Op<true>;

struct Tf32Op {
  static constexpr int kBytes = 4, kMmaK = 8;
  static constexpr bool kSplit = false;
  static __device__ __forceinline__ uint32_t pack(float x, float) { return ptx::cvt_rna_tf32(x); }
  static __device__ __forceinline__ mma::RowCol a_reg(int lane, int r) {
    return mma::a_m16n8k8_tf32(lane, r);
  }
  static __device__ __forceinline__ mma::RowCol b_reg(int lane, int r) {
    return mma::b_m16n8k8_tf32(lane, r);
  }
  static __device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4],
                                             const uint32_t (&b)[2]) {
    ptx::mma_m16n8k8_tf32(d, a, b);
  }
};

// 3xTF32: shared memory holds the float32 operands themselves (the packed weights are float32 too);
// each fragment register is split as it is loaded into big = tf32(x) and small = tf32(x - big)
// (x - big is exact in float32), and every product runs as three tf32 mma, small terms first:
// a_small*b_big + a_big*b_small + a_big*b_big. The tensor cores read only a register's upper 19
// bits as tf32, so handing them an unsplit float32 would silently be plain tf32; cuda_emu does the
// same (tests/kernels/conv2d_test.cpp's 3xtf32 rows hold it to float32 accuracy).
struct Tf32x3Op : Tf32Op {
  static constexpr bool kSplit = true;
  static __device__ __forceinline__ uint32_t pack(float x, float) {
    uint32_t r;
    memcpy(&r, &x, sizeof r);
    return r;
  }
  // r (a float32) -> *big, returns small.
  static __device__ __forceinline__ uint32_t split(uint32_t* r) {
    float x, b;
    memcpy(&x, r, sizeof x);
    *r = ptx::cvt_rna_tf32(x);
    memcpy(&b, r, sizeof b);
    return ptx::cvt_rna_tf32(x - b);
  }
};

// One block per 64 x 128 tile of out_channels x (batch * pixels); 8 warps in a 2 x 4 grid, each a
// 32 x 32 warp tile of 2 x 4 mma.sync tiles; K-slabs of 32 staged in shared memory with a
// register prefetch of the next slab. KS is the kernel size (1, 3, 7), 0 for any other.
template <class Op, int KS>
__global__ void __launch_bounds__(kThreads)
    conv2d_tc_kernel(TcShape s, const float* __restrict__ in, const uint4* __restrict__ wp,
                     float* out, ConvFusion f) {
  constexpr int kPerWord = 4 / Op::kBytes;             // operand elements per 32-bit word
  constexpr int kRowWords = Tile::kK / kPerWord + 4;   // shared-memory row, padded by 4 words
  constexpr int kChunksPerRow = Tile::kK * Op::kBytes / 16;         // 16-byte chunks per A row
  constexpr int kAChunks = Tile::kM * kChunksPerRow / kThreads;     // per thread: 1 or 2
  constexpr int kBWords = Tile::kN * (Tile::kK / kPerWord) / kThreads;  // per thread: 8 or 16
  constexpr int kBStep = kThreads / Tile::kN;          // word rows between a thread's words
  static_assert(kAChunks >= 1 && Tile::kM * kChunksPerRow % kThreads == 0, "A tile split");
  static_assert(kBStep * Tile::kN == kThreads, "B tile split");
  DICE_SHARED(uint32_t, As, [Tile::kM * kRowWords]);
  DICE_SHARED(uint32_t, Bs, [Tile::kN * kRowWords]);

  const int tid = static_cast<int>(threadIdx.x);
  const int lane = tid % 32, warp = tid / 32;
  const int wm = (warp % kWarpsM) * kWarpTileM;
  const int wn = (warp / kWarpsM) * kWarpTileN;
  // A 1-D grid with the M (output-channel) tiles fastest: the blocks that share a tile of input
  // pixels run side by side, so the input comes from DRAM about once instead of once per M tile
  // (the weights, a few MB at most, are what gets re-read, from L2).
  const int m_tiles = (s.O + Tile::kM - 1) / Tile::kM;
  const int m0 = static_cast<int>(blockIdx.x % static_cast<unsigned>(m_tiles)) * Tile::kM;
  const int n0 = static_cast<int>(blockIdx.x / static_cast<unsigned>(m_tiles)) * Tile::kN;
  const int ks = KS > 0 ? KS : s.ksize;
  const int ks2 = ks * ks;
  const int64_t HW = static_cast<int64_t>(s.H) * s.W;
  const int OHW = s.OH * s.OW;

  // A loader: chunk c = tid + i * 256 is row c / kChunksPerRow, chunk c % kChunksPerRow of it.
  // Packed rows exist up to the padded M and K, so no bounds checks.
  const int64_t w_row_chunks = static_cast<int64_t>(s.Kp) * Op::kBytes / 16;
  uint4 a_reg[kAChunks];
  auto load_a = [&](int k0) {
#pragma unroll
    for (int i = 0; i < kAChunks; ++i) {
      const int c = tid + i * kThreads;
      const int row = c / kChunksPerRow, col = c % kChunksPerRow;
      a_reg[i] = __ldg(wp + static_cast<int64_t>(m0 + row) * w_row_chunks +
                       k0 * Op::kBytes / 16 + col);
    }
  };

  // B loader: one output pixel (column b_n of the tile) per thread, words b_w + kBStep * i of its
  // K-slab row, each word kPerWord consecutive k. Global loads coalesce along the pixels.
  const int b_n = tid % Tile::kN, b_w = tid / Tile::kN;
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
  float b_reg[kBWords * kPerWord];
  auto load_b = [&](int k0) {
#pragma unroll
    for (int i = 0; i < kBWords; ++i) {
#pragma unroll
      for (int e = 0; e < kPerWord; ++e) {
        const int k = k0 + (b_w + kBStep * i) * kPerWord + e;
        float v = 0.0f;  // also for k >= K: the packed A is zero there, and 0 * 0 stays 0
        if (n_ok && k < s.K) {
          const int c = k / ks2;
          const int r = k - c * ks2;
          const int ky = r / ks;
          const int kx = r - ky * ks;
          const int iy = iy0 + ky, ix = ix0 + kx;
          if (iy >= 0 && iy < s.H && ix >= 0 && ix < s.W) {
            v = __ldg(in_img + c * HW + iy * s.W + ix);
            // An explicit fmaf, not a contraction left to the compiler: the value is rounded to the
            // operand type next, so the exact-operand test reference (std::fma on the host) must
            // see the same float bit for bit, or a rounding boundary flips an operand.
            if (f.in_scale) v = fmaxf(fmaf(v, __ldg(f.in_scale + c), __ldg(f.in_shift + c)), 0.0f);
          }
        }
        b_reg[i * kPerWord + e] = v;
      }
    }
  };

  float acc[kMmaTilesM][kMmaTilesN][4];
#pragma unroll
  for (int i = 0; i < kMmaTilesM; ++i)
#pragma unroll
    for (int j = 0; j < kMmaTilesN; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;

  load_a(0);
  load_b(0);
  for (int k0 = 0; k0 < s.Kp; k0 += Tile::kK) {
#pragma unroll
    for (int i = 0; i < kAChunks; ++i) {
      const int c = tid + i * kThreads;
      const int row = c / kChunksPerRow, col = c % kChunksPerRow;
      *reinterpret_cast<uint4*>(&As[row * kRowWords + col * 4]) = a_reg[i];
    }
#pragma unroll
    for (int i = 0; i < kBWords; ++i)
      Bs[b_n * kRowWords + b_w + kBStep * i] =
          Op::pack(b_reg[i * kPerWord], b_reg[i * kPerWord + kPerWord - 1]);
    __syncthreads();  // the slab is complete
    if (k0 + Tile::kK < s.Kp) {  // global loads of the next slab overlap the mma below
      load_a(k0 + Tile::kK);
      load_b(k0 + Tile::kK);
    }
#pragma unroll
    for (int kk = 0; kk < Tile::kK; kk += Op::kMmaK) {
      uint32_t a[kMmaTilesM][4], b[kMmaTilesN][2];
#pragma unroll
      for (int i = 0; i < kMmaTilesM; ++i)
#pragma unroll
        for (int r = 0; r < 4; ++r) {
          const mma::RowCol rc = Op::a_reg(lane, r);
          a[i][r] = As[(wm + i * 16 + rc.row) * kRowWords + (kk + rc.col) / kPerWord];
        }
#pragma unroll
      for (int j = 0; j < kMmaTilesN; ++j)
#pragma unroll
        for (int r = 0; r < 2; ++r) {
          const mma::RowCol rc = Op::b_reg(lane, r);  // row = k, col = n
          b[j][r] = Bs[(wn + j * 8 + rc.col) * kRowWords + (kk + rc.row) / kPerWord];
        }
      if constexpr (Op::kSplit) {
        uint32_t a_small[kMmaTilesM][4], b_small[kMmaTilesN][2];
#pragma unroll
        for (int i = 0; i < kMmaTilesM; ++i)
#pragma unroll
          for (int r = 0; r < 4; ++r) a_small[i][r] = Op::split(&a[i][r]);
#pragma unroll
        for (int j = 0; j < kMmaTilesN; ++j)
#pragma unroll
          for (int r = 0; r < 2; ++r) b_small[j][r] = Op::split(&b[j][r]);
#pragma unroll
        for (int i = 0; i < kMmaTilesM; ++i)
#pragma unroll
          for (int j = 0; j < kMmaTilesN; ++j) {
            Op::mma(acc[i][j], a_small[i], b[j]);
            Op::mma(acc[i][j], a[i], b_small[j]);
            Op::mma(acc[i][j], a[i], b[j]);
          }
      } else {
#pragma unroll
        for (int i = 0; i < kMmaTilesM; ++i)
#pragma unroll
          for (int j = 0; j < kMmaTilesN; ++j) Op::mma(acc[i][j], a[i], b[j]);
      }
    }
    __syncthreads();  // everyone is done reading before the next slab overwrites it
  }

  // Epilogue. Accumulator element e of mma tile (i, j) is row c_m16n8(lane, e).row, column
  // c_m16n8(lane, e).col of that tile; the columns a thread holds depend only on j and e & 1, so
  // their output offsets are computed once.
  int64_t col_base[kMmaTilesN][2];
#pragma unroll
  for (int j = 0; j < kMmaTilesN; ++j)
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const int n = n0 + wn + j * 8 + mma::c_m16n8(lane, e).col;
      if (n < s.N) {
        const int img = n / OHW;
        col_base[j][e] = static_cast<int64_t>(img) * s.out_stride + (n - img * OHW);
      } else {
        col_base[j][e] = -1;
      }
    }
#pragma unroll
  for (int i = 0; i < kMmaTilesM; ++i)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int m = m0 + wm + i * 16 + mma::c_m16n8(lane, e).row;
      if (m >= s.O) continue;
      const float bias = f.bias ? __ldg(f.bias + m) : 0.0f;
      const float scale = f.out_scale ? __ldg(f.out_scale + m) : 1.0f;
      const float shift = f.out_scale ? __ldg(f.out_shift + m) : 0.0f;
#pragma unroll
      for (int j = 0; j < kMmaTilesN; ++j) {
        const int64_t base = col_base[j][e & 1];
        if (base < 0) continue;
        float y = acc[i][j][e] + bias;
        if (f.out_scale) y = y * scale + shift;
        const int64_t o = base + static_cast<int64_t>(m) * OHW;
        if (f.residual) y += f.residual[o];
        if (f.out_relu) y = fmaxf(y, 0.0f);
        out[o] = y;
      }
    }
}

template <class Op>
void launch_for_op(const TcShape& s, const float* in, const void* wp, float* out,
                   const ConvFusion& f, cudaStream_t stream) {
  const dim3 block(kThreads);
  // M tiles fastest (see the kernel); conv2d_tc_unsupported keeps the block count in range.
  const int64_t blocks = ((s.N + Tile::kN - 1) / Tile::kN) * ((s.O + Tile::kM - 1) / Tile::kM);
  const dim3 grid(static_cast<unsigned>(blocks));
  const auto* w = static_cast<const uint4*>(wp);
  switch (s.ksize) {
    case 1: launch_kernel(conv2d_tc_kernel<Op, 1>, grid, block, 0, stream, s, in, w, out, f); break;
    case 3: launch_kernel(conv2d_tc_kernel<Op, 3>, grid, block, 0, stream, s, in, w, out, f); break;
    case 7: launch_kernel(conv2d_tc_kernel<Op, 7>, grid, block, 0, stream, s, in, w, out, f); break;
    default: launch_kernel(conv2d_tc_kernel<Op, 0>, grid, block, 0, stream, s, in, w, out, f); break;
  }
  DICE_CUDA_CHECK_LAUNCH();
}

}  // namespace

std::string conv2d_tc_unsupported(const Conv2dParams& p, const ConvFusion& f, Precision precision) {
  std::ostringstream why;
  const int64_t k_real = p.in_channels * p.kernel * p.kernel;
  if (!is_tensor_core(precision))
    why << "precision " << precision_name(precision) << " is not a tensor-core precision";
  else if (p.batch < 0 || p.in_channels <= 0 || p.height <= 0 || p.width <= 0 ||
           p.out_channels <= 0 || p.kernel <= 0 || p.stride <= 0 || p.pad < 0)
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
  else if (p.batch * p.out_height() * p.out_width() >= INT_MAX - Conv2dTcTile::kN ||
           k_real >= INT_MAX - Conv2dTcTile::kK || p.out_height() * p.out_width() >= INT_MAX ||
           p.out_channels >= INT_MAX - Conv2dTcTile::kM || p.height * p.width >= INT_MAX ||
           p.stride * p.out_height() + p.kernel >= INT_MAX ||
           p.stride * p.out_width() + p.kernel >= INT_MAX)
    why << "the problem exceeds the kernel's 32-bit pixel/K indexing; split the batch";
  else if ((p.batch * p.out_height() * p.out_width() + Conv2dTcTile::kN - 1) / Conv2dTcTile::kN *
               ((p.out_channels + Conv2dTcTile::kM - 1) / Conv2dTcTile::kM) > INT_MAX)
    why << "the grid would need more than 2^31 - 1 blocks; split the batch";
  if (!why.str().empty()) return "conv2d_tc: " + why.str();
  return {};
}

std::string tensor_cores_unsupported(int device) {
  int major = 0, minor = 0;
  DICE_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  DICE_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
  if (major < 8)
    return "conv2d_tc: device " + std::to_string(device) + " has compute capability " +
           std::to_string(major) + "." + std::to_string(minor) +
           "; the tensor-core kernels need 8.0 or newer (mma.sync m16n8k16 with bf16 and tf32)";
  return {};
}

void conv2d_tc(const Conv2dParams& p, Precision precision, const float* in,
               const void* packed_weight, float* out, const ConvFusion& f, cudaStream_t stream) {
  const std::string why = conv2d_tc_unsupported(p, f, precision);
  if (!why.empty()) throw Error(why);
  if (p.batch == 0) return;
  if (reinterpret_cast<uintptr_t>(packed_weight) % 16 != 0)
    throw_error("conv2d_tc: packed weights must be 16-byte aligned");

  TcShape s;
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
  s.Kp = (s.K + Conv2dTcTile::kK - 1) / Conv2dTcTile::kK * Conv2dTcTile::kK;
  s.N = static_cast<int>(p.batch * p.out_height() * p.out_width());
  s.in_stride = p.in_stride();
  s.out_stride = p.out_stride();

  switch (precision) {
    case Precision::kFp16: launch_for_op<F16Op>(s, in, packed_weight, out, f, stream); break;
    case Precision::kBf16: launch_for_op<Bf16Op>(s, in, packed_weight, out, f, stream); break;
    case Precision::kTf32: launch_for_op<Tf32Op>(s, in, packed_weight, out, f, stream); break;
    case Precision::k3xTf32: launch_for_op<Tf32x3Op>(s, in, packed_weight, out, f, stream); break;
    case Precision::kFp32: break;  // excluded by conv2d_tc_unsupported
  }
}

}  // namespace dice
