// CUDA pooling ops (see pool_cuda.h): windowed average/max pool and global average pool, each with
// the optional BN+ReLU prologue DenseNet needs (its transitions pool relu(bn(x)) and its head
// pools relu(bn(x)) globally), so the activated tensor is never written to memory.
//
// These ops are memory-bound and tiny next to the convolutions, so the kernels favour plain,
// coalesced indexing over tiling: windowed pools give one output element to each thread
// (consecutive threads -> consecutive output x, so stores coalesce), the global pool gives one
// (image, channel) plane to each warp and reduces with shuffles.
#include <cmath>

#include "gpu/cuda_check.h"
#include "gpu/cuda_launch.h"
#include "kernels/pool_cuda.h"

namespace dice {

namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 1 << 20;  // grid-stride loops cover the rest

struct PoolShape {
  int64_t total;  // batch * C * OH * OW
  int C, H, W, OH, OW, kernel, stride, pad;
  int64_t in_stride, out_stride;
};

// One thread per output element (grid-stride loop over batch*C*OH*OW, x fastest).
template <bool kMax>
__global__ void __launch_bounds__(kThreads)
    pool2d_kernel(PoolShape s, const float* __restrict__ in, float* __restrict__ out,
                  const float* __restrict__ scale, const float* __restrict__ shift) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < s.total;
       idx += step) {
    const int ox = static_cast<int>(idx % s.OW);
    int64_t t = idx / s.OW;
    const int oy = static_cast<int>(t % s.OH);
    t /= s.OH;
    const int c = static_cast<int>(t % s.C);
    const int64_t n = t / s.C;
    const float* src = in + n * s.in_stride + static_cast<int64_t>(c) * s.H * s.W;
    const float sc = scale ? __ldg(scale + c) : 1.0f;
    const float sh = scale ? __ldg(shift + c) : 0.0f;
    const int iy0 = oy * s.stride - s.pad, ix0 = ox * s.stride - s.pad;
    float acc = kMax ? -INFINITY : 0.0f;
    for (int ky = 0; ky < s.kernel; ++ky) {
      const int iy = iy0 + ky;
      if (iy < 0 || iy >= s.H) continue;  // padding: 0 in the sum, -inf for the max
      for (int kx = 0; kx < s.kernel; ++kx) {
        const int ix = ix0 + kx;
        if (ix < 0 || ix >= s.W) continue;
        float v = __ldg(src + iy * s.W + ix);
        if (scale) v = fmaxf(__fadd_rn(__fmul_rn(v, sc), sh), 0.0f);  // unfused, as on the CPU
        if (kMax) {
          if (v > acc || isnan(v)) acc = v;  // NaN propagates, as in PyTorch and max_pool2d_cpu
        } else {
          acc += v;
        }
      }
    }
    // count_include_pad: the divisor is always kernel*kernel (windows never leave the padded
    // input in floor mode); multiplied by the float reciprocal exactly as avg_pool2d_cpu does.
    if (!kMax) acc *= 1.0f / static_cast<float>(s.kernel * s.kernel);
    out[n * s.out_stride + static_cast<int64_t>(c) * s.OH * s.OW + oy * s.OW + ox] = acc;
  }
}

// One warp per (image, channel) plane (grid-stride over planes); lanes stride over the pixels,
// then a shuffle reduction (in double); lane 0 writes the mean.
__global__ void __launch_bounds__(kThreads)
    global_avg_pool_kernel(int64_t planes, int channels, int hw, int64_t in_stride,
                           const float* __restrict__ in, float* __restrict__ out,
                           const float* __restrict__ scale, const float* __restrict__ shift) {
  const int lane = static_cast<int>(threadIdx.x) % 32;
  const int64_t warps_per_block = blockDim.x / 32;
  const int64_t step = static_cast<int64_t>(gridDim.x) * warps_per_block;
  // `plane` depends only on the warp, so every lane of a warp runs the same iterations and all 32
  // take part in each shuffle.
  for (int64_t plane = static_cast<int64_t>(blockIdx.x) * warps_per_block + threadIdx.x / 32;
       plane < planes; plane += step) {
    const int64_t n = plane / channels;
    const int c = static_cast<int>(plane % channels);
    const float* src = in + n * in_stride + static_cast<int64_t>(c) * hw;
    const float sc = scale ? __ldg(scale + c) : 1.0f;
    const float sh = scale ? __ldg(shift + c) : 0.0f;
    double sum = 0.0;  // double, as global_avg_pool_cpu: the result is then nearly order-free
    for (int i = lane; i < hw; i += 32) {
      float v = __ldg(src + i);
      if (scale) v = fmaxf(__fadd_rn(__fmul_rn(v, sc), sh), 0.0f);
      sum += v;
    }
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2)
      sum += __shfl_down_sync(0xffffffffu, sum, offset);
    if (lane == 0) out[plane] = static_cast<float>(sum / static_cast<double>(hw));
  }
}

unsigned blocks_for(int64_t work_items, int64_t items_per_block) {
  int64_t b = (work_items + items_per_block - 1) / items_per_block;
  if (b > kMaxBlocks) b = kMaxBlocks;
  return static_cast<unsigned>(b < 1 ? 1 : b);
}

PoolShape make_shape(const Pool2dParams& p, const char* op) {
  if (p.batch < 0 || p.channels <= 0 || p.height <= 0 || p.width <= 0 || p.kernel <= 0 ||
      p.stride <= 0 || p.pad < 0 || p.pad * 2 > p.kernel)
    throw_error(op, ": invalid sizes (positive sizes, 0 <= pad <= kernel/2 required)");
  if (p.out_height() <= 0 || p.out_width() <= 0)
    throw_error(op, ": kernel ", p.kernel, " does not fit a ", p.height, "x", p.width, " input");
  if (p.in_batch_stride != 0 && p.in_batch_stride < p.channels * p.height * p.width)
    throw_error(op, ": in_batch_stride ", p.in_batch_stride, " is smaller than one image");
  if (p.out_batch_stride != 0 && p.out_batch_stride < p.channels * p.out_height() * p.out_width())
    throw_error(op, ": out_batch_stride ", p.out_batch_stride, " is smaller than one image");
  if (p.height * p.width >= (int64_t{1} << 31) || p.channels >= (int64_t{1} << 31))
    throw_error(op, ": planes above 2^31 elements are not supported");
  PoolShape s;
  s.total = p.batch * p.channels * p.out_height() * p.out_width();
  s.C = static_cast<int>(p.channels);
  s.H = static_cast<int>(p.height);
  s.W = static_cast<int>(p.width);
  s.OH = static_cast<int>(p.out_height());
  s.OW = static_cast<int>(p.out_width());
  s.kernel = static_cast<int>(p.kernel);
  s.stride = static_cast<int>(p.stride);
  s.pad = static_cast<int>(p.pad);
  s.in_stride = p.in_stride();
  s.out_stride = p.out_stride();
  return s;
}

}  // namespace

void avg_pool2d_cuda(const Pool2dParams& p, const float* in, float* out, const float* in_scale,
                     const float* in_shift, cudaStream_t stream) {
  const PoolShape s = make_shape(p, "avg_pool2d_cuda");
  if ((in_scale == nullptr) != (in_shift == nullptr))
    throw_error("avg_pool2d_cuda: in_scale and in_shift must be given together");
  if (s.total == 0) return;
  launch_kernel(pool2d_kernel<false>, blocks_for(s.total, kThreads), kThreads, 0, stream, s, in,
                out, in_scale, in_shift);
  DICE_CUDA_CHECK_LAUNCH();
}

void max_pool2d_cuda(const Pool2dParams& p, const float* in, float* out, cudaStream_t stream) {
  const PoolShape s = make_shape(p, "max_pool2d_cuda");
  if (s.total == 0) return;
  launch_kernel(pool2d_kernel<true>, blocks_for(s.total, kThreads), kThreads, 0, stream, s, in,
                out, nullptr, nullptr);
  DICE_CUDA_CHECK_LAUNCH();
}

void global_avg_pool_cuda(int64_t batch, int64_t channels, int64_t hw, const float* in, float* out,
                          const float* in_scale, const float* in_shift, int64_t in_batch_stride,
                          cudaStream_t stream) {
  if (batch < 0 || channels <= 0 || hw <= 0 || hw >= (int64_t{1} << 31) ||
      channels >= (int64_t{1} << 31))
    throw_error("global_avg_pool_cuda: invalid sizes batch=", batch, " channels=", channels,
                " hw=", hw);
  if (in_batch_stride != 0 && in_batch_stride < channels * hw)
    throw_error("global_avg_pool_cuda: in_batch_stride ", in_batch_stride,
                " is smaller than one image");
  if ((in_scale == nullptr) != (in_shift == nullptr))
    throw_error("global_avg_pool_cuda: in_scale and in_shift must be given together");
  const int64_t planes = batch * channels;
  if (planes == 0) return;
  const int64_t stride = in_batch_stride ? in_batch_stride : channels * hw;
  launch_kernel(global_avg_pool_kernel, blocks_for(planes, kThreads / 32), kThreads, 0, stream,
      planes, static_cast<int>(channels), static_cast<int>(hw), stride, in, out, in_scale,
      in_shift);
  DICE_CUDA_CHECK_LAUNCH();
}

}  // namespace dice
