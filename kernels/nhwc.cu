// The NHWC half ops of kernels/nhwc.h. Memory-bound and small next to the convolutions, so the
// kernels are plain: one thread per (pixel, 8-channel chunk) with 16-byte loads and stores where
// the channels are contiguous (conversion writes, max pool), one thread per (image, channel) for
// the global pool (a warp reads 32 consecutive channels of a pixel, 64 bytes, per step).
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "gpu/cuda_check.h"
#include "gpu/cuda_launch.h"
#include "gpu/half16.h"
#include "kernels/nhwc.h"

namespace dice {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 1 << 20;  // grid-stride loops cover the rest

unsigned blocks_for(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > kMaxBlocks ? kMaxBlocks : b));
}

using half16::to_float;

template <bool kBf16>
__device__ __forceinline__ uint16_t to_bits(float x) {
  return half16::from_float<kBf16>(x);
}

// One thread per (pixel, chunk of 8 output channels); pixels fastest, so the strided reads of one
// channel plane coalesce across the warp.
template <bool kBf16>
__global__ void __launch_bounds__(kThreads)
    to_nhwc_kernel(int64_t pixels, int C, int64_t hw, int chunks, const float* __restrict__ in,
                   uint16_t* __restrict__ out) {
  const int64_t total = pixels * chunks;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += step) {
    const int64_t pix = idx % pixels;
    const int chunk = static_cast<int>(idx / pixels);
    const int64_t n = pix / hw, i = pix - n * hw;
    uint16_t v[8];
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      const int c = chunk * 8 + e;
      v[e] = c < C ? to_bits<kBf16>(__ldg(in + (n * C + c) * hw + i)) : uint16_t{0};
    }
    uint4 w;
    memcpy(&w, v, 16);
    *reinterpret_cast<uint4*>(out + pix * chunks * 8 + chunk * 8) = w;
  }
}

struct PoolNhwcShape {
  int64_t total;  // batch * OH * OW * chunks
  int chunks, H, W, OH, OW, kernel, stride, pad;
  int64_t in_ldc, out_ldc;
};

// One thread per (output pixel, chunk of 8 channels), chunks fastest (16-byte accesses that
// coalesce along the channels of a pixel).
template <bool kBf16>
__global__ void __launch_bounds__(kThreads)
    max_pool_nhwc_kernel(PoolNhwcShape s, const uint16_t* __restrict__ in,
                         uint16_t* __restrict__ out) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < s.total;
       idx += step) {
    const int chunk = static_cast<int>(idx % s.chunks);
    int64_t t = idx / s.chunks;
    const int ox = static_cast<int>(t % s.OW);
    t /= s.OW;
    const int oy = static_cast<int>(t % s.OH);
    const int64_t n = t / s.OH;
    // As max_pool2d_cpu: start at -inf, take x when x > acc or x is NaN (NaN propagates, as in
    // PyTorch). The value kept is the 16-bit one read, so nothing is rounded.
    const uint16_t minus_inf = kBf16 ? uint16_t{0xFF80} : uint16_t{0xFC00};
    float acc[8];
    uint16_t best[8];
#pragma unroll
    for (int e = 0; e < 8; ++e) acc[e] = -INFINITY, best[e] = minus_inf;
    for (int ky = 0; ky < s.kernel; ++ky) {
      const int iy = oy * s.stride - s.pad + ky;
      if (iy < 0 || iy >= s.H) continue;  // padding is -inf
      for (int kx = 0; kx < s.kernel; ++kx) {
        const int ix = ox * s.stride - s.pad + kx;
        if (ix < 0 || ix >= s.W) continue;
        const uint4 w = __ldg(reinterpret_cast<const uint4*>(
            in + ((n * s.H + iy) * s.W + ix) * s.in_ldc + chunk * 8));
        uint16_t v[8];
        memcpy(v, &w, 16);
#pragma unroll
        for (int e = 0; e < 8; ++e) {
          const float x = to_float<kBf16>(v[e]);
          if (x > acc[e] || isnan(x)) acc[e] = x, best[e] = v[e];
        }
      }
    }
    uint4 w;
    memcpy(&w, best, 16);
    *reinterpret_cast<uint4*>(out + ((n * s.OH + oy) * s.OW + ox) * s.out_ldc + chunk * 8) = w;
  }
}

// One thread per (image, channel), channels fastest.
template <bool kBf16>
__global__ void __launch_bounds__(kThreads)
    global_avg_nhwc_kernel(int64_t batch, int C, int64_t hw, int64_t ldc,
                           const uint16_t* __restrict__ in, float* __restrict__ out) {
  const int64_t total = batch * C;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += step) {
    const int c = static_cast<int>(idx % C);
    const int64_t n = idx / C;
    const uint16_t* src = in + n * hw * ldc + c;
    float sum = 0.0f;
    for (int64_t i = 0; i < hw; ++i) sum += to_float<kBf16>(__ldg(src + i * ldc));
    out[idx] = sum / static_cast<float>(hw);
  }
}

void check16(const char* op, Precision precision) {
  if (precision != Precision::kFp16 && precision != Precision::kBf16)
    throw_error(op, ": precision ", precision_name(precision), " has no 16-bit storage (fp16, bf16)");
}

}  // namespace

void nchw_to_nhwc16(int64_t batch, int64_t channels, int64_t hw, const float* in, uint16_t* out,
                    int64_t out_ldc, Precision precision, cudaStream_t stream) {
  check16("nchw_to_nhwc16", precision);
  if (batch < 0 || channels <= 0 || hw <= 0 || out_ldc < channels || out_ldc % 8 != 0)
    throw_error("nchw_to_nhwc16: need batch >= 0, channels and hw > 0, and out_ldc a multiple of 8 "
                "at least the channels (got ", batch, ", ", channels, ", ", hw, ", ", out_ldc, ")");
  if (batch == 0) return;
  const int64_t pixels = batch * hw;
  const int chunks = static_cast<int>(out_ldc / 8);
  const unsigned grid = blocks_for(pixels * chunks);
  if (precision == Precision::kBf16)
    launch_kernel(to_nhwc_kernel<true>, dim3(grid), dim3(kThreads), 0, stream, pixels,
                  static_cast<int>(channels), hw, chunks, in, out);
  else
    launch_kernel(to_nhwc_kernel<false>, dim3(grid), dim3(kThreads), 0, stream, pixels,
                  static_cast<int>(channels), hw, chunks, in, out);
  DICE_CUDA_CHECK_LAUNCH();
}

void max_pool_nhwc16(const Pool2dParams& p, int64_t in_ldc, int64_t out_ldc, const uint16_t* in,
                     uint16_t* out, Precision precision, cudaStream_t stream) {
  check16("max_pool_nhwc16", precision);
  if (p.batch < 0 || p.channels <= 0 || p.height <= 0 || p.width <= 0 || p.kernel <= 0 ||
      p.stride <= 0 || p.pad < 0 || p.out_height() <= 0 || p.out_width() <= 0)
    throw_error("max_pool_nhwc16: bad sizes (channels, sides, kernel and stride positive, pad >= 0, "
                "the window inside the padded input)");
  if (p.in_batch_stride != 0 || p.out_batch_stride != 0 || p.channels % 8 != 0 || in_ldc % 8 != 0 ||
      out_ldc % 8 != 0 || in_ldc < p.channels || out_ldc < p.channels)
    throw_error("max_pool_nhwc16: channels and pixel strides must be multiples of 8 (ldc >= "
                "channels), batch strides 0");
  if (2 * p.pad > p.kernel)
    throw_error("max_pool_nhwc16: pad ", p.pad, " is more than half the kernel ", p.kernel,
                " (PyTorch refuses it too)");
  if (p.batch == 0) return;
  PoolNhwcShape s;
  s.chunks = static_cast<int>(p.channels / 8);
  s.H = static_cast<int>(p.height), s.W = static_cast<int>(p.width);
  s.OH = static_cast<int>(p.out_height()), s.OW = static_cast<int>(p.out_width());
  s.kernel = static_cast<int>(p.kernel), s.stride = static_cast<int>(p.stride);
  s.pad = static_cast<int>(p.pad);
  s.in_ldc = in_ldc, s.out_ldc = out_ldc;
  s.total = p.batch * s.OH * s.OW * s.chunks;
  const unsigned grid = blocks_for(s.total);
  if (precision == Precision::kBf16)
    launch_kernel(max_pool_nhwc_kernel<true>, dim3(grid), dim3(kThreads), 0, stream, s, in, out);
  else
    launch_kernel(max_pool_nhwc_kernel<false>, dim3(grid), dim3(kThreads), 0, stream, s, in, out);
  DICE_CUDA_CHECK_LAUNCH();
}

void global_avg_pool_nhwc16(int64_t batch, int64_t channels, int64_t hw, int64_t in_ldc,
                            const uint16_t* in, float* out, Precision precision,
                            cudaStream_t stream) {
  check16("global_avg_pool_nhwc16", precision);
  if (batch < 0 || channels <= 0 || hw <= 0 || in_ldc < channels)
    throw_error("global_avg_pool_nhwc16: need batch >= 0, channels and hw > 0, in_ldc >= channels");
  if (batch == 0) return;
  const unsigned grid = blocks_for(batch * channels);
  if (precision == Precision::kBf16)
    launch_kernel(global_avg_nhwc_kernel<true>, dim3(grid), dim3(kThreads), 0, stream, batch,
                  static_cast<int>(channels), hw, in_ldc, in, out);
  else
    launch_kernel(global_avg_nhwc_kernel<false>, dim3(grid), dim3(kThreads), 0, stream, batch,
                  static_cast<int>(channels), hw, in_ldc, in, out);
  DICE_CUDA_CHECK_LAUNCH();
}

}  // namespace dice
