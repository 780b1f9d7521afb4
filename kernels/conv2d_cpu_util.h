// Pieces shared by the CPU conv paths, conv2d_cpu.cpp (direct GEMM) and conv2d_winograd_cpu.cpp:
// tile arithmetic, the per-thread aligned scratch buffer, the zero-bordered input copy and the
// folded epilogue. Internal to kernels/.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <vector>

#include "core/error.h"
#include "core/huge_pages.h"
#include "kernels/conv2d.h"
#include "kernels/gemm_cpu.h"

namespace dice {

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// Below this many FLOPs (direct-conv count) a conv call runs on the caller's thread alone (see
// conv2d_cpu.cpp's Plan): waking the other threads would cost more than they save.
constexpr double kMinParallelConvFlops = 8e6;
// The B panel of one rows-mode work item (K x its columns) at most this many floats, so it stays
// in L2 while every row block of the weights passes over it (conv2d_cpu's rows modes and
// conv2d_cpu_panels).
constexpr int64_t kRowsPanelFloats = 96 * 1024;

// fn(img, pix, len, c) for each image's run of the batch's columns [c0, c1) (columns are the
// batch's pixels, image after image, `pixels` per image; c: the run's first column).
template <class Fn>
void for_each_image_run(int64_t c0, int64_t c1, int64_t pixels, Fn&& fn) {
  for (int64_t c = c0; c < c1;) {
    const int64_t img = c / pixels, pix = c % pixels, len = std::min(pixels - pix, c1 - c);
    fn(img, pix, len, c);
    c += len;
  }
}

// A growable 64-byte-aligned buffer, kept per thread so a call allocates only when it needs more
// than the last one did. Contents are not preserved when it grows.
template <typename T>
class AlignedBuf {
 public:
  AlignedBuf() = default;
  AlignedBuf(const AlignedBuf&) = delete;
  AlignedBuf& operator=(const AlignedBuf&) = delete;
  ~AlignedBuf() { std::free(p_); }
  T* get(int64_t n) {
    if (n > cap_) {
      std::free(p_);
      const int64_t bytes = round_up(n * static_cast<int64_t>(sizeof(T)), 64);
      p_ = static_cast<T*>(std::aligned_alloc(64, static_cast<size_t>(bytes)));
      DICE_ASSERT(p_ != nullptr);
      // Whole-batch copies (the padded batch of Winograd and batch mode, subsampled inputs) are
      // tens of MB: 2 MB pages, as for the executor's arena (core/huge_pages.h).
      advise_huge_pages(p_, static_cast<size_t>(bytes));
      cap_ = n;
    }
    return p_;
  }

 private:
  T* p_ = nullptr;
  int64_t cap_ = 0;
};

// The zero-bordered copy of one image: planes of `plane` floats ((H+2P) x wp used, the rest zero)
// with the prologue (ConvFusion::in_scale) applied, so padding is zero after the activation, then
// `slack` zeros so a micro-kernel may read whole vectors past the last plane.
struct PaddedLayout {
  int64_t wp = 0, plane = 0, slack = 0;
  int64_t floats(int64_t channels) const { return channels * plane + slack; }
};
void pad_image(const Conv2dParams& p, const float* x, const ConvFusion& f, const GemmIsa& isa,
               const PaddedLayout& l, float* dst);
// The same for the whole batch, image after image (l.plane * in_channels floats each), then
// l.slack zeros; on `threads` threads (1: the caller's). Returns the copy, held in `buf`.
float* pad_batch(const Conv2dParams& p, const float* in, const ConvFusion& f, const GemmIsa& isa,
                 const PaddedLayout& l, int64_t threads, AlignedBuf<float>* buf);

// rows-t mode (conv2d_cpu.cpp: a strided 1x1 at batch 1 on a map whose pixel count wastes
// columns, ResNet-50's downsamples to 14x14 and 7x7): whether it runs this call, and its GEMM.
// C^T[N pixels x M channels] = X^T W^T with X^T in pack_weights' row-block layout for isa.mr
// (block b, pixels [r0, r1), is [K][r1 - r0] at xt + r0 * K) and W^T as B panels of isa.nr
// columns (Conv2dCpuPacked::at); split over `threads` by channel chunks, each output channel's row
// of N sums handed to store(o, row) (which applies the epilogue and writes it).
bool conv2d_rows_t(const Conv2dParams& p, const ConvFusion& f, int64_t nr);
void rows_t_gemm(const GemmIsa& isa, int64_t N, int64_t K, int64_t M, const float* xt,
                 const float* wt, int64_t threads,
                 const std::function<void(int64_t, const float*)>& store);

// One core's L2 cache in bytes as the system reports it (sysconf), 1 MiB when it does not say,
// held to [256 KiB, 8 MiB]: cache budgets that were tuned on one machine scale with it.
int64_t l2_cache_bytes();

// The bias and folded BN of ConvFusion as one affine map per output channel,
// (acc + bias) * s + t = acc * alpha + beta; both left empty when there is neither.
void fold_epilogue(const ConvFusion& f, int64_t channels, std::vector<float>* alpha,
                   std::vector<float>* beta);

}  // namespace dice
