// conv2d_cpu: convolution as GEMM, C[out_channels x pixels] = W[out_channels x C*k*k] * B, with
// pixels along the vector lanes so results land in NCHW rows and the epilogue is fused into the
// single store. The micro-kernels are in gemm_kernels.inc; this file plans tiles and builds B.
//
// B is formed one of three ways, picked per call:
//   rows:    1x1, stride 1, no padding. B is the input itself (channel rows); it is copied into
//            panels [chunk][K][nr] anyway, because the copy applies the BN+ReLU prologue, zero-pads
//            the pixel tail, and makes the micro-kernel's reads sequential.
//   padded:  stride 1, k > 1 (DenseNet's 3x3 layers, ResNet's 3x3/1). The image is copied once
//            into a zero-bordered layout (prologue applied, so padding is zero *after* the
//            activation). Output pixels are then computed on the padded-width grid q = y*Wp + x,
//            where tap (c,kh,kw) of pixel q is padded[c][q + kh*Wp + kw]: B is addressed through a
//            per-k offset table (implicit im2col, no 9x copy). The k-1 grid columns past the
//            right edge are computed and discarded (6% extra at 32x32); results go to a scratch
//            tile and a row-wise epilogue pass moves the valid pixels to the output.
//   im2col:  everything else (strided or padded 1x1, 7x7/2, 3x3/2): explicit im2col panels.
// Work is split into (image, pixel tile) items handed out dynamically to the parallel_for workers;
// each thread keeps its own aligned buffers. Tiles are sized so one item's B panel or scratch
// stays in L2.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"
#include "kernels/conv2d.h"
#include "kernels/gemm_cpu.h"

namespace dice {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// A per-thread growable 64-byte-aligned float buffer (contents are not preserved on growth).
class AlignedBuf {
 public:
  AlignedBuf() = default;
  AlignedBuf(const AlignedBuf&) = delete;
  AlignedBuf& operator=(const AlignedBuf&) = delete;
  ~AlignedBuf() { std::free(p_); }
  float* get(int64_t n) {
    if (n > cap_) {
      std::free(p_);
      const size_t bytes = static_cast<size_t>(round_up(n * 4, 64));
      p_ = static_cast<float*>(std::aligned_alloc(64, bytes));
      DICE_ASSERT(p_ != nullptr);
      cap_ = n;
    }
    return p_;
  }

 private:
  float* p_ = nullptr;
  int64_t cap_ = 0;
};

thread_local AlignedBuf t_panel, t_padded, t_scratch;

// Hands out work items in units of `unit` consecutive items from an atomic counter. The cores
// are shared with other processes: with a fixed split, one descheduled thread holds up the whole
// call for its half; handed out dynamically, it holds up only the unit it is working on. A unit
// is one whole image when there are enough images, so a thread's tiles share its packed input.
class DynamicItems {
 public:
  DynamicItems(int64_t items, int64_t unit, int64_t threads)
      : items_(items), unit_(unit), workers_(std::min(threads, ceil_div(items, unit))) {}
  int64_t workers() const { return workers_; }
  bool next(int64_t* begin, int64_t* end) {
    const int64_t u = next_.fetch_add(1, std::memory_order_relaxed);
    *begin = u * unit_;
    *end = std::min(items_, *begin + unit_);
    return *begin < items_;
  }

 private:
  int64_t items_, unit_, workers_;
  std::atomic<int64_t> next_{0};
};

// Budgets (floats) that keep one work item's B panel / scratch tile within L2.
constexpr int64_t kPanelFloats = 96 * 1024;
constexpr int64_t kScratchFloats = 64 * 1024;

// Splits n columns into tiles of a multiple of nr, each at most `cap` wide, balanced, and into at
// least `min_tiles` tiles where that is possible.
void plan_tiles(int64_t n, int64_t nr, int64_t cap, int64_t min_tiles, int64_t* tile,
                int64_t* tiles) {
  cap = std::max(nr, cap / nr * nr);
  int64_t t = std::max(ceil_div(n, cap), min_tiles);
  t = std::min(t, ceil_div(n, nr));
  *tile = round_up(ceil_div(n, t), nr);
  *tiles = ceil_div(n, *tile);
}

// im2col of output pixels [n0, n0+n) of one image into panels [chunk][K][nr] with the prologue
// applied and zeros for padding and for the tail columns. Scalar: only strided/odd convs use it.
void pack_im2col(const Conv2dParams& p, const float* x, const ConvFusion& f, int64_t n0, int64_t n,
                 int64_t nr, float* dst) {
  const int64_t H = p.height, W = p.width, R = p.kernel, S = p.stride, P = p.pad;
  const int64_t Wo = p.out_width(), K = p.in_channels * R * R;
  const int64_t chunks = ceil_div(n, nr);
  for (int64_t kk = 0; kk < K; ++kk) {
    const int64_t c = kk / (R * R), kh = kk / R % R, kw = kk % R;
    const float* src = x + c * H * W;
    const bool act = f.in_scale != nullptr;
    const float s = act ? f.in_scale[c] : 1.0f, t = act ? f.in_shift[c] : 0.0f;
    int64_t oy = n0 / Wo, ox = n0 % Wo;
    float* d = dst + kk * nr;
    int64_t lane = 0;
    for (int64_t j = 0; j < chunks * nr; ++j) {
      float v = 0.0f;
      if (j < n) {
        const int64_t iy = oy * S - P + kh, ix = ox * S - P + kw;
        if (iy >= 0 && iy < H && ix >= 0 && ix < W) {
          v = src[iy * W + ix];
          if (act) v = std::max(v * s + t, 0.0f);
        }
        if (++ox == Wo) ox = 0, ++oy;
      }
      d[lane] = v;
      if (++lane == nr) lane = 0, d += K * nr;
    }
  }
}

// Copies image x into padded planes of plane_p floats (Hp x Wp used, the rest zero), applying the
// prologue; zeros `slack` floats after the last plane for the micro-kernel's over-reads.
void pad_image(const Conv2dParams& p, const float* x, const ConvFusion& f, const GemmIsa& isa,
               int64_t plane_p, int64_t slack, float* dst) {
  PadPlane pp;
  pp.height = p.height, pp.width = p.width, pp.pad = p.pad, pp.plane = plane_p;
  for (int64_t c = 0; c < p.in_channels; ++c) {
    pp.src = x + c * p.height * p.width;
    pp.dst = dst + c * plane_p;
    if (f.in_scale) pp.scale = f.in_scale + c, pp.shift = f.in_shift + c;
    isa.pad_plane(pp);
  }
  std::memset(dst + p.in_channels * plane_p, 0, sizeof(float) * static_cast<size_t>(slack));
}

}  // namespace

// Parallel over (image, pixel tile) items; per item one GEMM tile of all output channels
// (micro-tiles of isa.mr channels x isa.nr pixels, register-blocked, see gemm_kernels.inc).
void conv2d_cpu(const Conv2dParams& p, const float* in, const float* weight, float* out,
                const ConvFusion& f) {
  DICE_ASSERT(p.batch >= 0 && p.in_channels > 0 && p.out_channels > 0 && p.kernel > 0 &&
              p.stride > 0 && p.pad >= 0 && p.height > 0 && p.width > 0);
  DICE_ASSERT((f.in_scale == nullptr) == (f.in_shift == nullptr));
  DICE_ASSERT((f.out_scale == nullptr) == (f.out_shift == nullptr));
  const int64_t Ho = p.out_height(), Wo = p.out_width();
  DICE_ASSERT(Ho > 0 && Wo > 0);
  if (p.batch == 0) return;

  const GemmIsa& isa = cpu_isa();
  const int64_t nr = isa.nr;
  const int64_t C = p.in_channels, H = p.height, W = p.width, M = p.out_channels;
  const int64_t R = p.kernel, P = p.pad, K = C * R * R, N = Ho * Wo;
  const int64_t in_st = p.in_stride(), out_st = p.out_stride();

  std::vector<float> a(static_cast<size_t>(M * K));
  pack_weights(weight, M, K, isa.mr, a.data());

  // Epilogue as one affine map per channel: (acc + bias) * s + t = acc * s + (bias * s + t).
  std::vector<float> alpha, beta;
  if (f.out_scale || f.bias) {
    alpha.resize(static_cast<size_t>(M));
    beta.resize(static_cast<size_t>(M));
    for (int64_t o = 0; o < M; ++o) {
      const float s = f.out_scale ? f.out_scale[o] : 1.0f;
      const float b = f.bias ? f.bias[o] : 0.0f;
      alpha[o] = s;
      beta[o] = f.out_scale ? b * s + f.out_shift[o] : b;
    }
  }
  const float* al = alpha.empty() ? nullptr : alpha.data();
  const float* be = beta.empty() ? nullptr : beta.data();

  // Few images: cut each into more tiles so every thread has work.
  const int64_t threads = num_threads();
  const int64_t min_tiles = p.batch >= 2 * threads ? 1 : ceil_div(2 * threads, p.batch);

  if (p.stride == 1 && R > 1) {
    // padded: grid of Ho rows x Wp columns, tap offsets into the padded planes
    const int64_t Wp = W + 2 * P, Hp = H + 2 * P;
    const int64_t plane_p = round_up(Hp * Wp, 16);
    const int64_t slack = nr + R + 16;
    const int64_t grid = Ho * Wp;
    DICE_ASSERT(C * plane_p + slack < (int64_t{1} << 31));
    std::vector<int32_t> off(static_cast<size_t>(K));
    for (int64_t kk = 0; kk < K; ++kk) {
      const int64_t c = kk / (R * R), kh = kk / R % R, kw = kk % R;
      off[kk] = static_cast<int32_t>(c * plane_p + kh * Wp + kw);
    }
    int64_t tile, tiles;
    plan_tiles(grid, nr, kScratchFloats / M, min_tiles, &tile, &tiles);
    DynamicItems work(p.batch * tiles, p.batch >= 2 * threads ? tiles : 1, threads);
    parallel_for(work.workers(), [&](int64_t, int64_t) {
      float* padded = t_padded.get(C * plane_p + slack);
      float* scratch = t_scratch.get(M * tile);
      int64_t cur = -1;
      for (int64_t begin, end; work.next(&begin, &end);) {
        for (int64_t item = begin; item < end; ++item) {
          const int64_t img = item / tiles, q0 = item % tiles * tile;
          const int64_t nq = std::min(tile, grid - q0);
          if (img != cur) {
            pad_image(p, in + img * in_st, f, isa, plane_p, slack, padded);
            cur = img;
          }
          GemmTile t;
          t.m = M, t.n = nq, t.k = K;
          t.a = a.data();
          t.b = padded + q0, t.b_off = off.data(), t.b_chunk = nr;
          t.c = scratch, t.ldc = tile;
          isa.gemm(t);
          // Move the valid pixels (x < Wo) of grid range [q0, q0+nq) to the output.
          float* o_img = out + img * out_st;
          const float* r_img = f.residual ? f.residual + img * out_st : nullptr;
          for (int64_t o = 0; o < M; ++o) {
            const float* src = scratch + o * tile;
            for (int64_t q = q0; q < q0 + nq;) {
              const int64_t y = q / Wp, x = q % Wp;
              if (x >= Wo) {
                q = (y + 1) * Wp;
                continue;
              }
              const int64_t len = std::min(Wo - x, q0 + nq - q);
              const int64_t dst = o * N + y * Wo + x;
              isa.epilogue_row(src + (q - q0), o_img + dst, len, al ? al + o : nullptr,
                               be ? be + o : nullptr, r_img ? r_img + dst : nullptr, f.out_relu);
              q += len;
            }
          }
        }
      }
    });
    return;
  }

  // rows / im2col: B panels [chunk][K][nr] per tile, C written straight into the output.
  const bool rows = R == 1 && p.stride == 1 && P == 0;
  int64_t tile, tiles;
  plan_tiles(N, nr, kPanelFloats / K, min_tiles, &tile, &tiles);
  DynamicItems work(p.batch * tiles, p.batch >= 2 * threads ? tiles : 1, threads);
  parallel_for(work.workers(), [&](int64_t, int64_t) {
    float* panel = t_panel.get(K * tile);
    for (int64_t begin, end; work.next(&begin, &end);) {
      for (int64_t item = begin; item < end; ++item) {
        const int64_t img = item / tiles, n0 = item % tiles * tile;
        const int64_t n = std::min(tile, N - n0);
        const float* x = in + img * in_st;
        if (rows) {
          PackRows pr;
          pr.src = x, pr.plane = H * W, pr.k = K, pr.n0 = n0, pr.n = n;
          pr.scale = f.in_scale, pr.shift = f.in_shift, pr.dst = panel;
          isa.pack_rows(pr);
        } else {
          pack_im2col(p, x, f, n0, n, nr, panel);
        }
        GemmTile t;
        t.m = M, t.n = n, t.k = K;
        t.a = a.data();
        t.b = panel, t.b_kstride = nr, t.b_chunk = K * nr;
        t.c = out + img * out_st + n0, t.ldc = N;
        t.alpha = al, t.beta = be;
        if (f.residual) t.res = f.residual + img * out_st + n0, t.ldr = N;
        t.relu = f.out_relu;
        isa.gemm(t);
      }
    }
  });
}

}  // namespace dice
