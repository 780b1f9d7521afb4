// head_cuda: the classifier head in one kernel (see head_cuda.h and head.h for the definitions).
//
// One block per sample. The clipped feature row and the sample's logits live in shared memory, so
// the feature is read from global memory once however many classes there are. Each warp computes
// whole logits (lanes stride over the features, then a shuffle reduction; the weight rows are read
// coalesced), accumulating in double and rounding once, like head_cpu, so the logits agree with the
// CPU to within the reduction order's double rounding and the argmax agrees too. Warp 0 then finds
// the max and its first index, and sums exp(z - max) in double, as head_cpu does, for energy = max
// + log(sum) and msp = 1 / sum. The head is a few MFLOP per batch, so the simple layout is the
// right one; what matters is that it is one launch instead of five (fc, mask, logsumexp, softmax,
// argmax).
#include <climits>
#include <cmath>

#include "gpu/cuda_check.h"
#include "gpu/cuda_launch.h"
#include "kernels/head_cuda.h"

namespace dice {

namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr size_t kMaxSharedBytes = 48 * 1024;  // the default dynamic shared-memory limit

// One block per sample: clip into shared memory, one warp per logit, warp 0 reduces the logits.
__global__ void __launch_bounds__(kThreads)
    head_kernel(int in_features, int classes, float clip, const float* __restrict__ features,
                const float* __restrict__ weight, const float* __restrict__ bias,
                const uint8_t* __restrict__ mask, float* __restrict__ logits,
                float* __restrict__ energy, float* __restrict__ msp, int32_t* __restrict__ argmax) {
  DICE_DYNAMIC_SHARED(float, smem);
  float* h = smem;                // [in_features], the clipped feature
  float* z = smem + in_features;  // [classes], the logits
  const int tid = static_cast<int>(threadIdx.x);
  const int lane = tid % 32, warp = tid / 32;
  const int64_t b = blockIdx.x;
  const int D = in_features, C = classes;

  const float* x = features + b * D;
  for (int d = tid; d < D; d += kThreads) {
    const float v = x[d];
    h[d] = clip < v ? clip : v;  // std::min(v, clip), NaN passing through as in head_cpu
  }
  __syncthreads();

  // `c` depends only on the warp: all 32 lanes run each iteration and take part in the shuffles.
  for (int c = warp; c < C; c += kWarps) {
    const float* w = weight + static_cast<int64_t>(c) * D;
    const uint8_t* mk = mask ? mask + static_cast<int64_t>(c) * D : nullptr;
    double sum = 0.0;
    for (int d = lane; d < D; d += 32) {
      if (mk && mk[d] == 0) continue;  // a masked weight contributes nothing, as in head_cpu
      sum += static_cast<double>(__ldg(w + d)) * static_cast<double>(h[d]);
    }
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
    if (bias) sum += static_cast<double>(__ldg(bias + c));
    if (lane == 0) z[c] = static_cast<float>(sum);
  }
  __syncthreads();

  if (logits)
    for (int c = tid; c < C; c += kThreads) logits[b * C + c] = z[c];

  if (warp == 0) {
    // Max and its first index: lanes scan a strided subset keeping the first maximum, then merge
    // preferring the larger value and, on ties, the smaller index. INT_MAX marks "saw nothing".
    // NaN logits are skipped, so that a lane (or a butterfly partner) never gets stuck on one and
    // hides a larger logit; head_cpu's scan (seeded with z[0], then `z[c] > max`) gives exactly
    // this result whenever z[0] is a number, and (NaN, 0) when z[0] is NaN, restored below.
    float best = -INFINITY;
    int best_i = INT_MAX;
    for (int c = lane; c < C; c += 32) {
      const float v = z[c];
      if (best_i == INT_MAX ? !isnan(v) : v > best) {
        best = v;
        best_i = c;
      }
    }
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2) {
      const float ov = __shfl_xor_sync(0xffffffffu, best, offset);
      const int oi = __shfl_xor_sync(0xffffffffu, best_i, offset);
      if (oi != INT_MAX && (best_i == INT_MAX || ov > best || (ov == best && oi < best_i))) {
        best = ov;
        best_i = oi;
      }
    }
    // After the xor butterfly every lane holds the same (best, best_i).
    if (isnan(z[0])) best = z[0], best_i = 0;
    double s = 0.0;
    for (int c = lane; c < C; c += 32)
      s += exp(static_cast<double>(z[c]) - static_cast<double>(best));
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2) s += __shfl_xor_sync(0xffffffffu, s, offset);
    if (lane == 0) {
      if (energy) energy[b] = static_cast<float>(static_cast<double>(best) + log(s));
      if (msp) msp[b] = static_cast<float>(1.0 / s);
      if (argmax) argmax[b] = best_i;
    }
  }
}

}  // namespace

void head_cuda(const HeadParams& p, const float* features, const float* weight, const float* bias,
               const uint8_t* mask, const HeadOutputs& out, cudaStream_t stream) {
  if (p.batch < 0 || p.in_features <= 0 || p.classes <= 0 || p.batch > INT_MAX ||
      p.in_features > INT_MAX || p.classes > INT_MAX)
    throw_error("head_cuda: invalid sizes batch=", p.batch, " in_features=", p.in_features,
                " classes=", p.classes);
  const size_t smem = static_cast<size_t>(p.in_features + p.classes) * sizeof(float);
  if (smem > kMaxSharedBytes)
    throw_error("head_cuda: in_features + classes = ", p.in_features + p.classes, " exceeds the ",
                kMaxSharedBytes / sizeof(float), " floats one block holds in shared memory");
  if (p.batch == 0) return;
  launch_kernel(head_kernel, static_cast<unsigned>(p.batch), kThreads, smem, stream,
      static_cast<int>(p.in_features), static_cast<int>(p.classes), p.clip, features, weight, bias,
      mask, out.logits, out.energy, out.msp, out.argmax);
  DICE_CUDA_CHECK_LAUNCH();
}

}  // namespace dice
