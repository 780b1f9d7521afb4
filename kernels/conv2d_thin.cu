// conv2d_thin: the fp32 kernel for convolutions with few output channels (kernels/conv2d_thin.h
// says why it exists). Two shapes: 3x3 stride 1 pad 1 and 1x1 stride 1 pad 0, NCHW, with every
// fusion of kernels/conv2d.h and conv2d_cuda's channel-slice batch strides.
//
// Work split: the output is cut into quads, 4 adjacent pixels of one row of one image (the 1x1
// shape ignores rows: a quad is 4 adjacent pixels of the image's H*W). A quad's output channels
// are cut into G = ceil(O / 12) groups of 12, and thread t of a block owns group t % G of quad
// t / G: a 12 x 4 register tile. A block has 128 threads, so QB = 128 / G quads (threads past
// QB * G idle but take part in the warp shuffles). The G threads of a quad are adjacent lanes and
// read the same input addresses, so a warp's input load is one request however G is.
//
// K loop: input channels in chunks of CC whose weights, [cc][tap][12 * G], fill up to 32 KB of
// shared memory (read along PyTorch's [o][c][tap], coalesced); a thread reads its 12 weights of a
// tap as three 16-byte loads (a broadcast when G = 1: every lane reads the same address). Inputs
// come from global memory (L1): per input channel, one 16-byte load per input row (3 rows for
// 3x3), the next channel's issued before the current one's FMAs. The 3x3 window's halo, the pixel
// left and right of the quad, is the neighbour quad's last / first pixel: __shfl_up/down by G
// lanes; a lane whose neighbour quad is outside its warp (or block) loads the halo itself. Zero padding is applied
// after the pre-activation relu(x * s + t), as PyTorch's conv(relu(bn(x))). Each thread sums its
// terms in increasing (c, ky, kx), conv2d_naive's order.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <sstream>

#include "kernels/conv2d_thin.h"
#include "gpu/cuda_check.h"
#include "gpu/cuda_launch.h"

namespace dice {

namespace {

constexpr int kThreads = 128;
constexpr int kGroup = 12;             // output channels per thread
constexpr int kMaxOut = 192;           // at most 16 groups: QB >= 8 quads per block
constexpr int kWeightFloats = 8192;    // one chunk of weights: 32 KB of shared memory

struct ThinShape {
  int C, O, G, QB, CC;
  int H, W;      // the quad grid: the image's rows and columns (1 and H*W for the 1x1 shape)
  int HW;        // floats per channel plane
  int qpr, qpi;  // quads per row, per image
  int64_t quads;  // batch * qpi
  int64_t in_stride, out_stride;
};

__device__ __forceinline__ float4 load4(const float* p) {
  return __ldg(reinterpret_cast<const float4*>(p));
}

__device__ __forceinline__ float relu_affine(float x, float a, float b) {
  return fmaxf(fmaf(x, a, b), 0.0f);
}

// 3 blocks per SM: up to 170 registers (the 3x3 instance takes ~168; capped at 128 it spilled).
template <int KS>
__global__ void __launch_bounds__(kThreads, 3)
    conv2d_thin_kernel(ThinShape s, const float* __restrict__ in, const float* __restrict__ weight,
                       float* out, ConvFusion f) {
  DICE_SHARED(float, ws, [kWeightFloats]);
  constexpr int T = KS * KS;
  constexpr int R = KS / 2;  // halo rows / columns
  const int tid = static_cast<int>(threadIdx.x);
  const int lane = tid % 32;
  const int G = s.G, L = G * kGroup;
  const int og = tid % G;
  const int ql = tid / G;
  const int64_t q = static_cast<int64_t>(blockIdx.x) * s.QB + ql;
  const bool active = ql < s.QB && q < s.quads;

  int64_t img = 0;
  int y = 0, x0 = 0;
  if (active) {
    img = q / s.qpi;
    const int r = static_cast<int>(q - img * s.qpi);
    y = r / s.qpr;
    x0 = (r - y * s.qpr) * 4;
  }
  // Channel 0 of this quad's row; rows y - R .. y + R are `dy * W` floats away.
  const float* src = in + img * s.in_stride + static_cast<int64_t>(y) * s.W + x0;
  bool row_ok[KS];
#pragma unroll
  for (int r = 0; r < KS; ++r) row_ok[r] = active && y + r - R >= 0 && y + r - R < s.H;
  const bool has_left = x0 > 0, has_right = x0 + 4 < s.W;
  // Thread tid - G (tid + G) holds quad ql - 1 (ql + 1) of this block: usable for the halo when it
  // is in this warp and, on the right, an active quad of this block.
  const bool left_in_warp = lane >= G;
  const bool right_in_warp = lane + G < 32 && ql + 1 < s.QB;

  // One input channel's rows (and the halo this lane must load itself).
  struct Rows {
    float4 v[KS];
    float left[KS], right[KS];
  };
  auto load = [&](int c, Rows& d) {
    const float* p = src + static_cast<int64_t>(c) * s.HW;
#pragma unroll
    for (int r = 0; r < KS; ++r) {
      const float* row = p + (r - R) * s.W;
      d.v[r] = row_ok[r] ? load4(row) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      if constexpr (KS == 3) {
        d.left[r] = row_ok[r] && has_left && !left_in_warp ? __ldg(row - 1) : 0.0f;
        d.right[r] = row_ok[r] && has_right && !right_in_warp ? __ldg(row + 4) : 0.0f;
      }
    }
  };

  float acc[kGroup][4];
#pragma unroll
  for (int j = 0; j < kGroup; ++j)
#pragma unroll
    for (int p = 0; p < 4; ++p) acc[j][p] = 0.0f;

  Rows cur, nxt;
  load(0, cur);
  for (int c0 = 0; c0 < s.C; c0 += s.CC) {
    const int cn = s.C - c0 < s.CC ? s.C - c0 : s.CC;
    __syncthreads();  // the previous chunk's weights are no longer read
    // Output channel o's weights of this chunk are `run` contiguous floats in PyTorch's layout:
    // read along them (coalesced), write them transposed, ws[(cc * T + tap) * L + o]. Columns
    // o >= O stay unwritten: they feed only accumulators the epilogue never stores.
    const int run = cn * T;
    const float* wsrc = weight + static_cast<int64_t>(c0) * T;
    for (int i = tid; i < s.O * run; i += kThreads) {
      const int o = i / run, r = i - o * run;
      ws[r * L + o] = __ldg(wsrc + static_cast<int64_t>(o) * s.C * T + r);
    }
    __syncthreads();

    for (int cc = 0; cc < cn; ++cc) {
      const int c = c0 + cc;
      if (c + 1 < s.C) load(c + 1, nxt);  // in flight during this channel's FMAs
      if (f.in_scale) {
        const float a = __ldg(f.in_scale + c), b = __ldg(f.in_shift + c);
#pragma unroll
        for (int r = 0; r < KS; ++r) {
          if (!row_ok[r]) continue;  // padding rows stay zero after the activation
          cur.v[r].x = relu_affine(cur.v[r].x, a, b);
          cur.v[r].y = relu_affine(cur.v[r].y, a, b);
          cur.v[r].z = relu_affine(cur.v[r].z, a, b);
          cur.v[r].w = relu_affine(cur.v[r].w, a, b);
          if constexpr (KS == 3) {
            cur.left[r] = relu_affine(cur.left[r], a, b);
            cur.right[r] = relu_affine(cur.right[r], a, b);
          }
        }
      }
      const float* wc = ws + cc * T * L + og * kGroup;
#pragma unroll
      for (int ky = 0; ky < KS; ++ky) {
        float win[4 + 2 * R];
        win[R + 0] = cur.v[ky].x, win[R + 1] = cur.v[ky].y;
        win[R + 2] = cur.v[ky].z, win[R + 3] = cur.v[ky].w;
        if constexpr (KS == 3) {
          // Every lane takes part in the shuffles; the value is used only where valid.
          const float l = __shfl_up_sync(0xffffffffu, cur.v[ky].w, G);
          const float rt = __shfl_down_sync(0xffffffffu, cur.v[ky].x, G);
          win[0] = has_left ? (left_in_warp ? l : cur.left[ky]) : 0.0f;
          win[5] = has_right ? (right_in_warp ? rt : cur.right[ky]) : 0.0f;
        }
#pragma unroll
        for (int kx = 0; kx < KS; ++kx) {
          const float* wt = wc + (ky * KS + kx) * L;
          const float4 w0 = *reinterpret_cast<const float4*>(wt);
          const float4 w1 = *reinterpret_cast<const float4*>(wt + 4);
          const float4 w2 = *reinterpret_cast<const float4*>(wt + 8);
          const float w[kGroup] = {w0.x, w0.y, w0.z, w0.w, w1.x, w1.y,
                                   w1.z, w1.w, w2.x, w2.y, w2.z, w2.w};
#pragma unroll
          for (int j = 0; j < kGroup; ++j)
#pragma unroll
            for (int p = 0; p < 4; ++p) acc[j][p] = fmaf(w[j], win[p + kx], acc[j][p]);
        }
      }
      if (c + 1 < s.C) cur = nxt;
    }
  }

  if (!active) return;
  const int64_t at = img * s.out_stride + static_cast<int64_t>(y) * s.W + x0;
#pragma unroll
  for (int j = 0; j < kGroup; ++j) {
    const int o = og * kGroup + j;
    if (o >= s.O) break;
    float v[4] = {acc[j][0], acc[j][1], acc[j][2], acc[j][3]};
    const float bias = f.bias ? __ldg(f.bias + o) : 0.0f;
    const float sc = f.out_scale ? __ldg(f.out_scale + o) : 1.0f;
    const float sh = f.out_scale ? __ldg(f.out_shift + o) : 0.0f;
    const int64_t off = at + static_cast<int64_t>(o) * s.HW;
    float4 res = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (f.residual) res = *reinterpret_cast<const float4*>(f.residual + off);
    const float rv[4] = {res.x, res.y, res.z, res.w};
#pragma unroll
    for (int p = 0; p < 4; ++p) {
      float t = v[p] + bias;
      if (f.out_scale) t = t * sc + sh;
      t += rv[p];
      v[p] = f.out_relu ? fmaxf(t, 0.0f) : t;
    }
    *reinterpret_cast<float4*>(out + off) = make_float4(v[0], v[1], v[2], v[3]);
  }
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

std::string conv2d_thin_unsupported(const Conv2dParams& p, const ConvFusion& f, const float* in,
                                    const float* out) {
  std::ostringstream why;
  const bool k3 = p.kernel == 3 && p.stride == 1 && p.pad == 1;
  const bool k1 = p.kernel == 1 && p.stride == 1 && p.pad == 0;
  if (!k3 && !k1)
    why << "only 3x3 stride 1 pad 1 and 1x1 stride 1 pad 0 convolutions";
  else if (p.out_channels > kMaxOut)
    why << "more than " << kMaxOut << " output channels";
  else if (k3 ? p.width % 4 != 0 : (p.height * p.width) % 4 != 0)
    why << (k3 ? "the width" : "the pixel count") << " is not a multiple of 4";
  else if (p.in_stride() % 4 != 0 || p.out_stride() % 4 != 0)
    why << "batch strides not a multiple of 4 floats";
  else if (!aligned16(in) || !aligned16(out) || !aligned16(f.residual))
    why << "input, output or residual not 16-byte aligned";
  else if (p.height * p.width > INT_MAX / 2 || p.in_channels > INT_MAX / 16)
    why << "the problem exceeds the kernel's 32-bit indexing";
  else if (p.batch * p.height * p.width / 4 > int64_t{INT_MAX} * 8)
    why << "the grid would need more than 2^31 - 1 blocks; split the batch";
  if (!why.str().empty()) return "conv2d_thin: " + why.str();
  return {};
}

void conv2d_thin(const Conv2dParams& p, const float* in, const float* weight, float* out,
                 const ConvFusion& f, cudaStream_t stream) {
  if (p.batch == 0) return;
  ThinShape s;
  s.C = static_cast<int>(p.in_channels);
  s.O = static_cast<int>(p.out_channels);
  s.G = (s.O + kGroup - 1) / kGroup;
  s.QB = kThreads / s.G;
  const int taps = static_cast<int>(p.kernel * p.kernel);
  s.CC = std::max(1, std::min(s.C, kWeightFloats / (taps * s.G * kGroup)));
  s.HW = static_cast<int>(p.height * p.width);
  if (p.kernel == 3) {
    s.H = static_cast<int>(p.height), s.W = static_cast<int>(p.width);
  } else {
    s.H = 1, s.W = s.HW;
  }
  s.qpr = s.W / 4;
  s.qpi = s.H * s.qpr;
  s.quads = p.batch * s.qpi;
  s.in_stride = p.in_stride();
  s.out_stride = p.out_stride();
  const dim3 grid(static_cast<unsigned>((s.quads + s.QB - 1) / s.QB));
  if (p.kernel == 3)
    launch_kernel(conv2d_thin_kernel<3>, grid, dim3(kThreads), 0, stream, s, in, weight, out, f);
  else
    launch_kernel(conv2d_thin_kernel<1>, grid, dim3(kThreads), 0, stream, s, in, weight, out, f);
  DICE_CUDA_CHECK_LAUNCH();
}

}  // namespace dice
