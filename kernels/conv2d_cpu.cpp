// conv2d_cpu: convolution as GEMM, C[out_channels x pixels] = W[out_channels x C*k*k] * B, with
// pixels along the vector lanes so results land in NCHW rows and the epilogue is fused into the
// single store. The micro-kernels are in gemm_kernels.inc; this file plans tiles and builds B.
//
// B is formed one of six ways, picked per call:
//   rows:     1x1, stride 1, no padding (DenseNet's bottleneck and transition convs, ResNet's
//             1x1s). B is the input itself (channel rows); it is still copied into panels
//             [chunk][K][nr], because the copy applies the BN+ReLU prologue, zero-pads the pixel
//             tail, and makes the micro-kernel's reads sequential.
//   implicit: stride 1, k > 1 (DenseNet's 3x3 layers, ResNet's 3x3/1). The image is copied once
//             into a zero-bordered layout (prologue applied, so padding is zero *after* the
//             activation). Output pixels are computed on the padded-width grid q = y*Wp + x, where
//             tap (c,kh,kw) of pixel q is padded[c][q + kh*Wp + kw]: B is addressed through a
//             per-k offset table (implicit im2col, no 9x copy). The k-1 grid columns past the
//             right edge are computed and discarded (6% extra at 32x32); results go to a scratch
//             tile and a row-wise epilogue pass moves the valid pixels to the output.
//   subsampled: 1x1, stride > 1, no prologue (ResNet's downsamples): the pixels read are gathered
//             into a compact copy, then as rows mode (see use_subsample).
//   phase:    stride > 1 (ResNet's 7x7/2 stem; 3x3/2s that Winograd does not take, see
//             conv2d_winograd.h). The zero-bordered image is split
//             into its stride x stride phases, which turns the strided conv into a stride-1 one
//             over the phases: then as implicit mode, with whole-vector loads of B, no gathers.
//   rows-t:   a strided 1x1 at batch 1 on a map whose pixel count wastes columns (ResNet-50's
//             downsamples to 14x14 and 7x7): the GEMM transposed, pixels as rows (run_rows_t).
//   batch:    small output maps (see use_batch_mode): the columns are the whole batch's pixels,
//             gathered into panels (pixel j of tap kk at off[kk] + idx[j]) one K block at a time.
// Work is split into (image, pixel tile) items handed out dynamically to the parallel_for workers;
// each thread keeps its own aligned buffers. Tiles are sized so one item's B panel or scratch
// stays in L2.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

#include <unistd.h>

#include "core/error.h"
#include "core/parallel.h"
#include "kernels/conv2d.h"
#include "kernels/conv2d_cpu_util.h"
#include "kernels/conv2d_winograd.h"
#include "kernels/gemm_cpu.h"
#include "kernels/precision.h"

namespace dice {
namespace {

thread_local AlignedBuf<float> t_panel, t_padded, t_scratch;
thread_local AlignedBuf<int32_t> t_idx;
thread_local AlignedBuf<float> t_row;  // rows-t mode: one output channel's row before its epilogue

// rows-t mode (see run_rows_t) where computing the output pixels as vector lanes would waste a
// tenth of the columns: ResNet-50's 7x7 and 14x14 maps (49 -> 64 and 196 -> 224 with nr = 32).
bool rows_t_pays(int64_t pixels, int64_t nr) {
  return pixels % nr != 0 && round_up(pixels, nr) * 10 >= pixels * 11;
}

// W [m][k] (PyTorch's layout of a 1x1 conv) as B panels of W^T: [ceil(m/nr)][k][nr], output
// channels along the panel's columns, zero past m.
void pack_weights_t(const float* w, int64_t m, int64_t k, int64_t nr, float* dst) {
  for (int64_t q = 0; q < ceil_div(m, nr); ++q)
    for (int64_t kk = 0; kk < k; ++kk)
      for (int64_t j = 0; j < nr; ++j) {
        const int64_t o = q * nr + j;
        dst[(q * k + kk) * nr + j] = o < m ? w[o * k + kk] : 0.0f;
      }
}

// Hands out work items in units of `unit` consecutive items from an atomic counter. The cores
// are shared with other processes: with a fixed split, one descheduled thread holds up the whole
// call for its half; handed out dynamically, it holds up only the unit it is working on. A unit
// is one whole image when there are enough images, so a thread's tiles share its padded input.
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

// Budgets (floats) that keep one work item's B panel (kRowsPanelFloats, conv2d_cpu_util.h) /
// scratch tile within L2.
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

// When a call has few work items (images x tiles, each handed out whole) and the threads do not
// divide them, one thread idles at the end for a whole item (9 tiles on 2 threads: a tenth of
// the call): re-plan n's tiles so that images x tiles is a multiple of the threads, if some
// count up to 8 items per thread gives one.
void even_out_tiles(int64_t n, int64_t nr, int64_t images, int64_t threads, int64_t* tile,
                    int64_t* tiles) {
  if (threads <= 1 || images * *tiles >= 8 * threads || images * *tiles % threads == 0) return;
  for (int64_t want = *tiles + 1; want <= ceil_div(n, nr) && images * want <= 8 * threads; ++want) {
    int64_t t, ts;
    plan_tiles(n, nr, round_up(ceil_div(n, want), nr), want, &t, &ts);
    if (images * ts % threads == 0) {
      *tile = t, *tiles = ts;
      return;
    }
  }
}

// Per-tap offsets into planes of `plane` floats with rows `wp` floats apart. The last table is
// kept per thread: a network's 3x3 convs mostly share one (DenseNet's all read 48 channels), and
// DenseNet's depth-first prefix makes one call per conv and image (the table cost 1.2% of its
// profile when rebuilt every call).
const std::vector<int32_t>& tap_offsets(const Conv2dParams& p, int64_t plane, int64_t wp) {
  struct Cached {
    int64_t c = -1, r = 0, plane = 0, wp = 0;
    std::vector<int32_t> off;
  };
  thread_local Cached t;
  const int64_t R = p.kernel, K = p.in_channels * R * R;
  if (t.c == p.in_channels && t.r == R && t.plane == plane && t.wp == wp) return t.off;
  DICE_ASSERT(p.in_channels * plane + wp * R < (int64_t{1} << 31));
  t.off.resize(static_cast<size_t>(K));
  for (int64_t kk = 0; kk < K; ++kk) {
    const int64_t c = kk / (R * R), kh = kk / R % R, kw = kk % R;
    t.off[static_cast<size_t>(kk)] = static_cast<int32_t>(c * plane + kh * wp + kw);
  }
  t.c = p.in_channels, t.r = R, t.plane = plane, t.wp = wp;
  return t.off;
}

// Everything one call shares across its work items: sizes, packed weights, the epilogue.
struct Plan {
  const Conv2dParams& p;
  const ConvFusion& f;
  const GemmIsa& isa;
  const float* in;
  float* out;
  int64_t M, K, N, in_st, out_st, threads, min_tiles;
  const float* a = nullptr;        // packed weights: `packed` below, or the caller's
  std::vector<float> packed;
  std::vector<float> alpha, beta;  // epilogue, empty when there is none

  // weight: PyTorch's layout, packed here; or, with prepacked (from conv2d_cpu_pack for this ISA),
  // used as it is; neither (rows-t mode, which brings its own W^T): a stays null.
  Plan(const Conv2dParams& p_, const ConvFusion& f_, const GemmIsa& isa_, const float* in_,
       const float* weight, const Conv2dCpuPacked* prepacked, float* out_)
      : p(p_), f(f_), isa(isa_), in(in_), out(out_) {
    M = p.out_channels, K = p.in_channels * p.kernel * p.kernel;
    N = p.out_height() * p.out_width();
    in_st = p.in_stride(), out_st = p.out_stride();
    threads = num_threads();
    // A call too small to repay waking the other threads and waiting for them (tens of
    // microseconds on a shared or virtual machine) runs on the caller's thread alone: DenseNet's
    // 8x8 layers at batch 1 are about 1 MFLOP each. (Measured on 2 cores: DenseNet-101 at batch 1
    // 8.65 -> 5.76 ms; batch 16 unchanged within noise; 16 MFLOP would cost batch 16 ~2%.)
    if (p.flops() < kMinParallelConvFlops) threads = 1;
    // Few images: cut each into more tiles so every thread has work.
    min_tiles = p.batch >= 2 * threads ? 1 : ceil_div(2 * threads, p.batch);
    if (prepacked) {
      a = prepacked->a.data();
    } else if (weight) {
      packed.resize(static_cast<size_t>(M * K));
      pack_weights(weight, M, K, isa.mr, packed.data());
      a = packed.data();
    }
    fold_epilogue(f, M, &alpha, &beta);
  }
  const float* al() const { return alpha.empty() ? nullptr : alpha.data(); }
  // Pixels [pix, pix + len) of image img's K channel rows of the input: what rows mode packs.
  GemmRegion source_rows(int64_t img, int64_t pix, int64_t len) const {
    GemmRegion r;
    r.src = in + img * in_st + pix, r.rows = K, r.row_floats = len, r.stride = N;
    return r;
  }
  const float* be() const { return beta.empty() ? nullptr : beta.data(); }
  // The unit of dynamic scheduling: whole images when there are enough of them.
  int64_t unit(int64_t tiles) const { return p.batch >= 2 * threads ? tiles : 1; }

  // Output-channel slices (see choose_slices): slice s is row blocks [rb0, rb1) of the packed
  // weights' partition, rows [r0, r1).
  int64_t mslices = 1;
  struct Slice {
    int64_t rb0, rb1, r0, r1;
  };
  Slice slice(int64_t s) const {
    const int64_t blocks = gemm_row_blocks(M, isa.mr);
    Slice sl;
    sl.rb0 = blocks * s / mslices, sl.rb1 = blocks * (s + 1) / mslices;
    sl.r0 = gemm_row_block_start(M, blocks, sl.rb0);
    sl.r1 = gemm_row_block_start(M, blocks, sl.rb1);
    return sl;
  }
  // When the weights outweigh the columns (M > batch * pixels: ResNet-50's layer3 and layer4 at
  // batch 1, a 9.4 MB weight matrix against a 49-pixel map), splitting the columns between threads
  // makes every thread stream all the weights for a few columns each; instead each thread takes a
  // slice of the output channels and all the columns, so the weights are read once in all.
  // ResNet-50 on 2 cores (Xeon, AVX-512), one forward: batch 1 46.2-46.9 -> 43.4-44.1 ms, batch 8
  // 285 -> 260 ms.
  void choose_slices(int64_t columns) {
    if (threads > 1 && M >= 2 * threads * isa.mr && M > columns) {
      mslices = threads;
      min_tiles = 1;
    }
  }
  // Runs body(item, slice) for every item in [0, items) and every slice: items handed out
  // dynamically in units of `unit` when there is one slice, else one slice per thread, each
  // running every item.
  template <class Body>
  void schedule(int64_t items, int64_t unit_items, const Body& body) const {
    schedule_ahead(items, unit_items, [&](int64_t item, const Slice& sl, int64_t) { body(item, sl); });
  }
  // As schedule, and body(item, slice, next) is also told the item its thread runs next (-1:
  // none), so it can prefetch that item's input while it computes: a thread claims its next unit
  // as it starts the last item of the current one.
  template <class Body>
  void schedule_ahead(int64_t items, int64_t unit_items, const Body& body) const {
    if (mslices == 1) {
      DynamicItems work(items, unit_items, threads);
      parallel_for(work.workers(), [&](int64_t, int64_t) {
        int64_t begin = 0, end = 0, nbegin = 0, nend = 0;
        for (bool more = work.next(&begin, &end); more; begin = nbegin, end = nend) {
          more = false;
          for (int64_t item = begin; item < end; ++item) {
            if (item + 1 == end) more = work.next(&nbegin, &nend);
            body(item, slice(0), item + 1 < end ? item + 1 : more ? nbegin : -1);
          }
        }
      });
    } else {
      parallel_for(mslices, [&](int64_t s0, int64_t s1) {
        for (int64_t s = s0; s < s1; ++s)
          for (int64_t item = 0; item < items; ++item)
            body(item, slice(s), item + 1 < items ? item + 1 : s + 1 < s1 ? 0 : -1);
      });
    }
  }

  // One GEMM tile from a packed panel straight into the output (and residual) of image img,
  // pixels [n0, n0 + n), output channels of slice sl, with the fused epilogue.
  void gemm_into_output(const float* panel, int64_t img, int64_t n0, int64_t n, const Slice& sl,
                        const GemmRegion* ahead = nullptr) const {
    GemmTile t;
    if (ahead) t.pf_src = ahead, t.n_pf_src = 1;
    t.m = M, t.n = n, t.k = K;
    t.rb_begin = sl.rb0, t.rb_end = sl.rb1;
    t.a = a;
    t.b = panel, t.b_kstride = isa.nr, t.b_chunk = K * isa.nr;
    into_output(&t, img, n0);
    isa.gemm(t);
  }
  // Points a GEMM tile's C at image img's output from pixel n0, with the fused epilogue (affine,
  // residual, ReLU).
  void into_output(GemmTile* t, int64_t img, int64_t n0) const {
    t->c = out + img * out_st + n0, t->ldc = N;
    t->alpha = al(), t->beta = be();
    if (f.residual) t->res = f.residual + img * out_st + n0, t->ldr = N;
    t->relu = f.out_relu;
  }
  // Rows [r0, r1) of a scratch tile (row stride ld) holding pixels [n0, n0 + n) of image img
  // into the output, with the epilogue.
  void epilogue_rows(const float* scratch, int64_t ld, int64_t img, int64_t n0, int64_t n,
                     const Slice& sl) const {
    float* o_img = out + img * out_st;
    const float* r_img = f.residual ? f.residual + img * out_st : nullptr;
    for (int64_t o = sl.r0; o < sl.r1; ++o) {
      const int64_t dst = o * N + n0;
      isa.epilogue_row(scratch + o * ld, o_img + dst, n, al() ? al() + o : nullptr,
                       be() ? be() + o : nullptr, r_img ? r_img + dst : nullptr, f.out_relu);
    }
  }
};

// Which image the calling thread's padded buffer (t_padded) holds: a call number (unique per
// conv2d_cpu call) and the image. Threads keep their buffer across the items they run.
std::atomic<uint64_t> g_calls{0};
thread_local uint64_t t_padded_call = 0;
thread_local int64_t t_padded_img = -1;

// Whether rows mode prefetches the source rows of a thread's next panel during its current GEMM
// (GemmTile::pf_src; Plan::schedule_ahead says which item is next). Packing otherwise waits on
// DRAM or L3 with the FMA units idle; it pays where each source float feeds few FLOPs (2 * M)
// and the source is a whole batch's (calls of one image, the depth-first prefix of CpuModel, find
// theirs in cache: DenseNet-101 at batch 128 lost 3% to the extra instructions).
// Measured (2 EPYC cores, batch 32, best of 3 x 10, alternating builds), one thread: 256->64
// 56x56 44.1 -> 39.9 ms, 1024->256 14x14 34.2 -> 32.3; two threads: 512->128 28x28 18.8 -> 17.0,
// 1024->256 14x14 18.1 -> 17.4; but 128->512 28x28 (with its residual) 18.1 -> 18.9 and 2048->512
// 7x7 15.7 -> 16.1, where the extra lines only crowd L2.
bool prefetch_next_source(int64_t out_channels, int64_t batch) {
  return out_channels <= 256 && batch > 1;
}

// rows mode: parallel over (image, pixel tile); pack the tile's channel rows, one GEMM tile.
void run_rows(Plan& pl) {
  const Conv2dParams& p = pl.p;
  const int64_t nr = pl.isa.nr, K = pl.K, N = pl.N;
  pl.choose_slices(p.batch * N);
  int64_t tile, tiles;
  plan_tiles(N, nr, kRowsPanelFloats / K, pl.min_tiles, &tile, &tiles);
  if (pl.mslices == 1 && pl.unit(tiles) == 1) even_out_tiles(N, nr, p.batch, pl.threads, &tile, &tiles);
  // The source rows item packs (pixels [n0, n0 + n) of one image's K channel rows).
  auto source = [&](int64_t item, int64_t* img, int64_t* n0, int64_t* n) {
    *img = item / tiles, *n0 = item % tiles * tile, *n = std::min(tile, N - *n0);
  };
  pl.schedule_ahead(p.batch * tiles, pl.unit(tiles), [&](int64_t item, const Plan::Slice& sl,
                                                         int64_t next) {
    float* panel = t_panel.get(K * tile);
    int64_t img, n0, n;
    source(item, &img, &n0, &n);
    PackRows pr;
    pr.src = pl.in + img * pl.in_st, pr.plane = N, pr.k = K, pr.n0 = n0, pr.n = n;
    pr.scale = pl.f.in_scale, pr.shift = pl.f.in_shift, pr.dst = panel;
    pl.isa.pack_rows(pr);
    GemmRegion ahead;
    if (next >= 0 && prefetch_next_source(pl.M, pl.p.batch)) {
      int64_t ni, nn0, nn;
      source(next, &ni, &nn0, &nn);
      ahead = pl.source_rows(ni, nn0, nn);
    }
    pl.gemm_into_output(panel, img, n0, n, sl, ahead.src ? &ahead : nullptr);
  });
}

// rows mode across images: for 1x1 convs on maps whose pixel count is not a multiple of nr
// (ResNet-50's 28x28, 14x14 and 7x7 stages), the per-image tiles end in a part-filled micro-tile
// (196 pixels run as 224) and small last tiles (196 = 96 + 96 + 4 under the panel budget at
// K = 1024) that stream all the weights for a few columns. Here the columns are the whole batch's
// pixels, image after image: each tile's panel is packed from the images it spans (PackRows::d0),
// and the GEMM writes each image's columns straight into its output through segments
// (GemmTile::segs), with the fused epilogue; only the micro-tiles that span two images go through
// a local buffer.
thread_local std::vector<GemmSeg> t_segs;
thread_local std::vector<GemmRegion> t_ahead;

bool use_rows_batch(const Conv2dParams& p, int64_t nr) {
  const int64_t N = p.out_height() * p.out_width();
  return p.kernel == 1 && p.stride == 1 && p.pad == 0 && p.batch >= 2 && N % nr != 0;
}

void run_rows_batch(Plan& pl) {
  const Conv2dParams& p = pl.p;
  const int64_t nr = pl.isa.nr, K = pl.K, N = pl.N, T = p.batch * N;
  pl.choose_slices(T);
  int64_t tile, tiles;
  plan_tiles(T, nr, kRowsPanelFloats / K, pl.mslices > 1 ? 1 : 2 * pl.threads, &tile, &tiles);
  if (pl.mslices == 1) even_out_tiles(T, nr, 1, pl.threads, &tile, &tiles);
  // fn(img, pix, len, c) for each image's run of item's columns (c: the run's first column).
  auto runs = [&](int64_t item, auto&& fn) {
    for_each_image_run(item * tile, std::min(T, item * tile + tile), N, fn);
  };
  pl.schedule_ahead(tiles, 1, [&](int64_t item, const Plan::Slice& sl, int64_t next) {
    float* panel = t_panel.get(K * round_up(tile, nr));
    const int64_t c0 = item * tile, n = std::min(tile, T - c0);
    std::vector<GemmSeg>& segs = t_segs;
    segs.clear();
    runs(item, [&](int64_t img, int64_t pix, int64_t len, int64_t c) {
      PackRows pr;
      pr.src = pl.in + img * pl.in_st, pr.plane = N, pr.k = K, pr.n0 = pix, pr.n = len;
      pr.d0 = c - c0;
      pr.scale = pl.f.in_scale, pr.shift = pl.f.in_shift, pr.dst = panel;
      pl.isa.pack_rows(pr);
      GemmSeg sg;
      sg.col = c - c0;
      sg.c = pl.out + img * pl.out_st + pix;
      sg.res = pl.f.residual ? pl.f.residual + img * pl.out_st + pix : nullptr;
      segs.push_back(sg);
    });
    std::vector<GemmRegion>& ahead = t_ahead;
    ahead.clear();
    if (next >= 0 && prefetch_next_source(pl.M, pl.p.batch))
      runs(next, [&](int64_t img, int64_t pix, int64_t len, int64_t) {
        ahead.push_back(pl.source_rows(img, pix, len));
      });
    GemmTile t;
    t.pf_src = ahead.data(), t.n_pf_src = static_cast<int64_t>(ahead.size());
    t.m = pl.M, t.n = n, t.k = K;
    t.segs = segs.data(), t.nsegs = static_cast<int64_t>(segs.size());
    t.rb_begin = sl.rb0, t.rb_end = sl.rb1;
    t.a = pl.a;
    t.b = panel, t.b_kstride = nr, t.b_chunk = K * nr;
    t.ldc = N;
    t.alpha = pl.al(), t.beta = pl.be();
    t.res = pl.f.residual, t.ldr = N;
    t.relu = pl.f.out_relu;
    pl.isa.gemm(t);
  });
}

// rows-t mode: a strided 1x1 conv (ResNet-50's downsample shortcuts) at batch 1 whose output
// pixel count is far from a multiple of nr (see rows_t_pays): phase mode would run 49 output
// pixels as 64 columns (7 x 8 grid) and rows_batch needs other images to fill the last micro-tile.
// The GEMM runs transposed, C^T[pixels x channels] = X^T * W^T: pixels are the micro-kernel's
// broadcast rows (row blocks of at most mr, so 49 pixels cost 49 rows) and output channels its
// vector lanes (M, a multiple of 32 in those layers, wastes nothing). X^T is gathered from the
// image per call (49 x 1024 floats); W^T comes packed as B panels from conv2d_cpu_pack
// (Conv2dCpuPacked::at). Each thread takes a range of channel chunks, one GEMM call per chunk,
// whose result is transposed back to NCHW rows and sent through the ISA's epilogue_row, the same
// operations as every other mode's epilogue, so results are bitwise those of the phase and batch
// modes (the sum runs over k in the same order, one FMA per term): an image's features do not
// depend on its batch. Measured (2 cores, weights cold, best of 300): 1024->2048 14x14/2 1.29-1.32
// -> 0.97-1.03 ms; 512->1024 28x28/2 1.14 -> 1.03 ms; not 256->512 56x56/2 (784 pixels, 1.10-1.14
// -> 1.20). Tried and left out: the same for stride-1 1x1s on 7x7 maps (no faster than rows mode,
// 0.59-0.61 -> 0.62-1.03 ms) and for the 3x3s on 7x7 maps (explicit im2col^T, K = 4608: 1.37 ->
// 1.66-1.73 ms).
bool use_rows_t(const Conv2dParams& p, const ConvFusion& f, int64_t nr) {
  const int64_t N = p.out_height() * p.out_width();
  return p.kernel == 1 && p.pad == 0 && p.stride > 1 && p.batch == 1 && !f.in_scale &&
         p.out_channels >= nr && rows_t_pays(N, nr);
}

void run_rows_t(Plan& pl, const float* wt) {
  const Conv2dParams& p = pl.p;
  const int64_t mr = pl.isa.mr, K = pl.K, N = pl.N;
  // X^T in pack_weights' row-block layout: block b (pixels [r0, r1)) is [K][r1 - r0].
  float* xt = t_panel.get(N * K);
  const int64_t blocks = gemm_row_blocks(N, mr);
  int64_t off[64];  // one row block's input offsets (mr <= 64)
  DICE_ASSERT(mr <= 64);
  const int64_t ow = p.out_width(), plane = p.height * p.width;
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t r0 = gemm_row_block_start(N, blocks, b);
    const int64_t rows = gemm_row_block_start(N, blocks, b + 1) - r0;
    float* dst = xt + r0 * K;
    // Pixel i reads input pixel (i / OW * S, i % OW * S).
    for (int64_t i = r0; i < r0 + rows; ++i) off[i - r0] = i / ow * p.stride * p.width + i % ow * p.stride;
    for (int64_t kk = 0; kk < K; ++kk)
      for (int64_t i = 0; i < rows; ++i) dst[kk * rows + i] = pl.in[kk * plane + off[i]];
  }
  rows_t_gemm(pl.isa, N, K, pl.M, xt, wt, pl.threads, [&](int64_t o, const float* row) {
    pl.isa.epilogue_row(row, pl.out + o * N, N, pl.al() ? pl.al() + o : nullptr,
                        pl.be() ? pl.be() + o : nullptr,
                        pl.f.residual ? pl.f.residual + o * N : nullptr, pl.f.out_relu);
  });
}

// Strided 1x1 convs without a prologue (ResNet's downsample shortcuts) away from rows-t mode: the
// pixels the conv reads are first gathered into a compact [batch][C][Ho x Wo] copy, which the
// stride-1 1x1 paths (rows, rows across images) then run on: the same sums in the same order as
// phase mode, so bitwise its results, without phase mode's grid columns and per-tile copies.
// Measured (2 EPYC cores, best of 8 at batch 32 / 50 at batch 1, four alternations of the two
// builds), batch/phase mode -> subsampled: batch 32, 1024->2048 14x14/2 36.8-41.7 -> 31.6-34.7 ms,
// 512->1024 28x28/2 37.4-39.9 -> 34.0-36.6, 256->512 56x56/2 39.9-66.4 -> 38.2-42.5; batch 1,
// 256->512 56x56/2 1.32-1.61 -> 1.17-1.31 (the smaller maps run rows-t there).
thread_local AlignedBuf<float> t_subsampled;

bool use_subsample(const Conv2dParams& p, const ConvFusion& f) {
  return p.kernel == 1 && p.pad == 0 && p.stride > 1 && !f.in_scale;
}

// The subsampled input (see use_subsample) and the stride-1 conv to run on it.
const float* subsample_input(const Conv2dParams& p, const float* in, const GemmIsa& isa,
                             Conv2dParams* q) {
  const int64_t Ho = p.out_height(), Wo = p.out_width(), C = p.in_channels, S = p.stride;
  *q = p;
  q->height = Ho, q->width = Wo, q->stride = 1, q->in_batch_stride = 0;
  float* dst = t_subsampled.get(p.batch * C * Ho * Wo);
  const int64_t planes = p.batch * C;
  const int64_t workers = std::min<int64_t>(p.flops() < kMinParallelConvFlops ? 1 : num_threads(), planes);
  parallel_for(workers, [&](int64_t w0, int64_t w1) {
    std::vector<float> odd(static_cast<size_t>(Wo));  // deinterleave's other half, dropped
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t e1 = planes * (w + 1) / workers;
      for (int64_t e = planes * w / workers; e < e1; ++e) {
        const int64_t n = e / C, c = e % C;
        const float* src = in + n * p.in_stride() + c * p.height * p.width;
        float* d = dst + e * Ho * Wo;
        for (int64_t y = 0; y < Ho; ++y) {
          const float* row = src + y * S * p.width;
          if (S == 2 && 2 * Wo <= p.width) {
            isa.deinterleave(row, Wo, d + y * Wo, odd.data(), nullptr, nullptr);
          } else {
            for (int64_t x = 0; x < Wo; ++x) d[y * Wo + x] = row[x * S];
          }
        }
      }
    }
  });
  return dst;
}

// The input copy the grid modes (implicit, phase) read, and how their GEMM addresses it: output
// pixel (y, x) is grid column q = y * wq + x, and tap kk of column q reads copy[off[kk] + q].
struct GridInput {
  PaddedLayout lay;          // planes of lay.plane floats, rows lay.wp = wq apart
  int64_t planes = 0;        // per input channel: 1 (implicit), or the phases some tap reads
  std::vector<int32_t> own;      // phase mode's tap offsets
  const int32_t* ext = nullptr;  // implicit mode's: the calling thread's tap_offsets table
  const int32_t* off() const { return ext ? ext : own.data(); }  // per tap
  int64_t floats(int64_t channels) const { return lay.floats(channels * planes); }
};

// implicit mode (stride 1): the zero-bordered image; tap (c, kh, kw) is at
// c * plane + kh * wp + kw.
GridInput implicit_input(const Conv2dParams& p, int64_t nr) {
  GridInput g;
  const int64_t Wp = p.width + 2 * p.pad, Hp = p.height + 2 * p.pad;
  g.lay.wp = Wp;
  g.lay.plane = round_up(Hp * Wp, 16);
  // The last grid chunk reads up to nr-1 columns past the grid, plus the largest tap offset.
  g.lay.slack = nr + p.kernel + 16;
  g.planes = 1;
  g.ext = tap_offsets(p, g.lay.plane, Wp).data();
  return g;
}

// phase mode (stride S > 1): the zero-bordered image split into its phases, phase (py, px)
// holding the padded pixels (i * S + py, j * S + px) as a plane of Hq x Wq (Hq = ceil(Hp / S), Wq
// likewise); only the min(S, k)^2 phases that some tap reads are made (one for a 1x1/2: the
// subsampled image). Tap (c, kh, kw) of output pixel (y, x) is then phase (kh % S, kw % S) of
// channel c at (y + kh / S, x + kw / S): a stride-1 read, so B is loaded as whole vectors instead
// of gathered.
// The grid is Ho x Wq columns; Wq - Wo of each row are computed and dropped (ResNet-50's stem:
// 115 for 112, its 3x3/2 into 28x28: 29 for 28; none for the 1x1/2 downsamples of even maps).
GridInput phase_input(const Conv2dParams& p, int64_t nr) {
  GridInput g;
  const int64_t S = p.stride, R = p.kernel, Su = std::min(S, R);
  const int64_t Hq = ceil_div(p.height + 2 * p.pad, S), Wq = ceil_div(p.width + 2 * p.pad, S);
  g.lay.wp = Wq;
  g.lay.plane = round_up(Hq * Wq, 16);
  g.lay.slack = nr + R + 16;
  g.planes = Su * Su;
  const int64_t K = p.in_channels * R * R;
  DICE_ASSERT(p.in_channels * g.planes * g.lay.plane + g.lay.slack < (int64_t{1} << 31));
  g.own.resize(static_cast<size_t>(K));
  for (int64_t kk = 0; kk < K; ++kk) {
    const int64_t c = kk / (R * R), kh = kk / R % R, kw = kk % R;
    const int64_t plane = (c * Su + kh % S) * Su + kw % S;
    const int64_t o = plane * g.lay.plane + kh / S * Wq + kw / S;
    g.own[static_cast<size_t>(kk)] = static_cast<int32_t>(o);
  }
  return g;
}

// Fills phase_input's copy of one image, the prologue applied to the pixels (padding stays zero).
// Stride 2 (every strided conv of ResNet-50) splits each input row into its even and odd columns
// with vector shuffles (GemmIsa::deinterleave); other strides copy element by element.
void split_phases(const Conv2dParams& p, const float* x, const ConvFusion& f, const GridInput& g,
                  const GemmIsa& isa, float* dst, int64_t c_begin = 0, int64_t c_end = -1) {
  if (c_end < 0) c_end = p.in_channels;
  const int64_t S = p.stride, P = p.pad, H = p.height, W = p.width, Su = std::min(S, p.kernel);
  const int64_t Wq = g.lay.wp, Hq = ceil_div(H + 2 * P, S), plane = g.lay.plane;
  // Phase column j of phase px reads input column j * S + px - P: inside the image for j in
  // [j0(px), j1(px)).
  // (Tabulated once: a 14x14 map of 512 channels has 8192 phase rows.)
  int64_t j0v[8], j1v[8];
  DICE_ASSERT(Su <= 8);
  for (int64_t px = 0; px < Su; ++px) {
    j0v[px] = std::min(Wq, ceil_div(std::max<int64_t>(0, P - px), S));
    j1v[px] = std::max(j0v[px], std::min(Wq, ceil_div(W + P - px, S)));
  }
  auto j0 = [&](int64_t px) { return j0v[px]; };
  auto j1 = [&](int64_t px) { return j1v[px]; };
  // With Su = 1 (a 1x1/2) the odd columns go to a scratch row.
  std::vector<float> junk(S == 2 && Su == 1 ? static_cast<size_t>(Wq + 1) : 0);
  for (int64_t c = c_begin; c < c_end; ++c) {
    const float* xc = x + c * H * W;
    const float* sc = f.in_scale ? f.in_scale + c : nullptr;
    const float* sh = f.in_scale ? f.in_shift + c : nullptr;
    for (int64_t py = 0; py < Su; ++py) {
      float* d[2] = {nullptr, nullptr};
      for (int64_t i = 0; i < Hq; ++i) {
        const int64_t r = i * S + py - P;
        for (int64_t px = 0; px < Su; ++px) {
          float* drow = dst + ((c * Su + py) * Su + px) * plane + i * Wq;
          if (r < 0 || r >= H) {
            std::fill(drow, drow + Wq, 0.0f);
            continue;
          }
          std::fill(drow, drow + j0(px), 0.0f);
          std::fill(drow + j1(px), drow + Wq, 0.0f);
          if (S != 2) {
            const float* s = xc + r * W + px - P;
            if (sc)
              for (int64_t j = j0(px); j < j1(px); ++j)
                drow[j] = std::max(0.0f, s[j * S] * *sc + *sh);
            else
              for (int64_t j = j0(px); j < j1(px); ++j) drow[j] = s[j * S];
          }
          if (px < 2) d[px] = drow;  // the stride-2 split below needs both phases
        }
        if (S != 2 || r < 0 || r >= H) continue;
        // Input column u goes to phase (u + P) % 2, column (u + P) / 2.
        float* even = d[0];
        float* odd = Su > 1 ? d[1] : junk.data();
        const float* s = xc + r * W;
        int64_t u = 0;
        float one[2];
        if (P % 2) {  // column 0 is odd-phase: alone, through the same kernel (same rounding)
          float pair[2] = {s[0], 0.0f};
          isa.deinterleave(pair, 1, one, one + 1, sc, sh);
          if (Su > 1) odd[P / 2] = one[0];
          u = 1;
        }
        const int64_t pairs = (W - u) / 2, j = (u + P) / 2;
        isa.deinterleave(s + u, pairs, even + j, odd + j, sc, sh);
        if (u + 2 * pairs < W) {  // the last column, even-phase
          float pair[2] = {s[W - 1], 0.0f};
          isa.deinterleave(pair, 1, one, one + 1, sc, sh);
          even[j + pairs] = one[0];
        }
      }
    }
    for (int64_t ph = 0; ph < Su * Su; ++ph) {
      float* d = dst + (c * Su * Su + ph) * plane;
      std::fill(d + Hq * Wq, d + plane, 0.0f);
    }
  }
  if (c_end < p.in_channels) return;
  const int64_t total = p.in_channels * Su * Su * plane;
  std::fill(dst + total, dst + total + g.lay.slack, 0.0f);
}

// The grid modes (implicit for stride 1, phase for larger strides): parallel over (image, grid
// tile); each thread copies an image once (padded, or split into phases) for all its tiles of it,
// and the GEMM reads the copy through the tap offsets and writes the valid columns (x < Wo)
// straight to the output, the epilogue fused.
thread_local AlignedBuf<float> t_shared_phases;
thread_local AlignedBuf<float> t_pair_src;  // bf16 mode: two channels' fp32 copy before pairing

// bf16 mode (see run_bf16): the grid copy of channels [2 * c2_begin, 2 * c2_end) of one image as
// bf16 pairs: each channel pair's fp32 copy (padded or split into phases, the prologue applied) is
// made into a two-channel buffer, then its planes are paired lane by lane, channel 2c in the low
// half and 2c + 1 (zero past the last channel) in the high half, so pair plane (c2, phase) holds
// what the fp32 copy's planes (2 c2, phase) and (2 c2 + 1, phase) hold. The pair copy then has the
// layout of a copy of ceil(C / 2) channels, which the GEMM reads through the same tap offsets.
void pair_copy(const Conv2dParams& p, const float* x, const ConvFusion& f, const GridInput& g,
               bool phases, const GemmIsa& isa, float* dst, int64_t c2_begin, int64_t c2_end) {
  const int64_t C = p.in_channels, C2 = ceil_div(C, int64_t{2}), plane = g.lay.plane;
  const int64_t hw = p.height * p.width;
  // Nothing to pad or activate (ResNet's 1x1s): the pairs straight from the input's planes.
  const bool direct = !phases && p.pad == 0 && !f.in_scale;
  float* two = direct ? nullptr : t_pair_src.get(g.floats(2));
  for (int64_t c2 = c2_begin; c2 < c2_end; ++c2) {
    Conv2dParams one = p;
    one.in_channels = std::min<int64_t>(2, C - 2 * c2);
    const float* x1 = x + 2 * c2 * hw;
    if (direct) {
      float* d = dst + c2 * plane;
      isa.bf16_pairs(x1, one.in_channels > 1 ? x1 + hw : nullptr, hw, d);
      std::memset(d + hw, 0, sizeof(float) * static_cast<size_t>(plane - hw));
      continue;
    }
    ConvFusion f1;
    if (f.in_scale) f1.in_scale = f.in_scale + 2 * c2, f1.in_shift = f.in_shift + 2 * c2;
    if (phases)
      split_phases(one, x1, f1, g, isa, two);
    else
      pad_image(one, x1, f1, isa, g.lay, two);
    for (int64_t ph = 0; ph < g.planes; ++ph)
      isa.bf16_pairs(two + ph * plane, one.in_channels > 1 ? two + (g.planes + ph) * plane : nullptr,
                     plane, dst + (c2 * g.planes + ph) * plane);
  }
  if (c2_end == C2) std::memset(dst + C2 * g.planes * plane, 0, sizeof(float) * static_cast<size_t>(g.lay.slack));
}

// The grid copy of one image (or its channels [c_begin, c_end): pairs of them in bf16 mode).
void grid_copy(const Plan& pl, const GridInput& g, bool phases, bool bf16, const float* x, float* dst,
               int64_t c_begin, int64_t c_end) {
  if (bf16)
    pair_copy(pl.p, x, pl.f, g, phases, pl.isa, dst, c_begin, c_end);
  else if (phases)
    split_phases(pl.p, x, pl.f, g, pl.isa, dst, c_begin, c_end);
  else
    pad_image(pl.p, x, pl.f, pl.isa, g.lay, dst);
}

// bf16: the GEMM runs on bf16 pairs (Conv2dCpuPacked::bf16, GemmIsa::bf16_pairs), over a copy of
// ceil(C / 2) pair channels (see pair_copy); the Plan's isa is then cpu_isa_bf16().
void run_grid(Plan& pl, bool phases, bool bf16 = false) {
  const Conv2dParams& p = pl.p;
  Conv2dParams q = p;  // the copy's channels: C, or C / 2 pairs rounded up
  if (bf16) q.in_channels = ceil_div(p.in_channels, int64_t{2});
  const int64_t nr = pl.isa.nr, M = pl.M, K = q.in_channels * p.kernel * p.kernel, Wo = p.out_width();
  const GridInput g = phases ? phase_input(q, nr) : implicit_input(q, nr);
  const int64_t Wq = g.lay.wp, grid = p.out_height() * Wq;
  pl.choose_slices(p.batch * pl.N);
  int64_t tile, tiles;
  plan_tiles(grid, nr, kScratchFloats / M, pl.min_tiles, &tile, &tiles);
  if (pl.mslices == 1 && pl.unit(tiles) == 1) even_out_tiles(grid, nr, p.batch, pl.threads, &tile, &tiles);
  const uint64_t call = ++g_calls;
  // One image split between threads (batch 1, by output-channel slices or by tiles): its phases
  // are split once, each thread a range of the channels, into one copy all threads read, instead
  // of each thread splitting the whole image for itself (in ResNet-50's layer4.0.conv2 at batch 1
  // that was 15% of the profile). Measured (2 EPYC cores, b1, best of 300, alternations): with
  // output-channel slices, 512->512 14x14/2 1.71-1.82 -> 1.66-1.70 ms (four); with the tiles
  // split, 128->128 56x56/2 1.49-1.50 -> 1.37-1.40 (six), but the stem (3 channels: nothing to
  // share, one more barrier) 1.28-1.31 -> 1.31-1.32, hence the channel floor.
  float* shared = nullptr;
  if (phases && p.batch == 1 && pl.threads > 1 && (pl.mslices > 1 || q.in_channels >= 32)) {
    shared = t_shared_phases.get(g.floats(q.in_channels));
    parallel_for(pl.threads, [&](int64_t s0, int64_t s1) {
      for (int64_t s = s0; s < s1; ++s)
        grid_copy(pl, g, true, bf16, pl.in, shared, q.in_channels * s / pl.threads,
                  q.in_channels * (s + 1) / pl.threads);
    });
  }
  pl.schedule(p.batch * tiles, pl.unit(tiles), [&](int64_t item, const Plan::Slice& sl) {
    const int64_t img = item / tiles, q0 = item % tiles * tile, nq = std::min(tile, grid - q0);
    float* copy = shared ? shared : t_padded.get(g.floats(q.in_channels));
    if (!shared && (t_padded_call != call || t_padded_img != img)) {
      grid_copy(pl, g, phases, bf16, pl.in + img * pl.in_st, copy, 0, q.in_channels);
      t_padded_call = call, t_padded_img = img;
    }
    GemmTile t;
    t.m = M, t.n = nq, t.k = K;
    t.rb_begin = sl.rb0, t.rb_end = sl.rb1;
    t.a = pl.a;
    t.b = copy + q0, t.b_off = g.off(), t.b_chunk = nr;
    if (Wq == Wo) {
      // No grid column to drop (a 1x1 in bf16 mode, or a 1x1/2 on an even map): the GEMM writes
      // the output with the epilogue fused, as rows mode does; through the scratch tile and a
      // second pass, bf16's 64->256 56x56 1x1 with its residual ran at 131 instead of 186 GFLOP/s.
      pl.into_output(&t, img, q0);
      pl.isa.gemm(t);
      return;
    }
    // The grid columns x >= Wo are dropped: the GEMM writes the others straight to the output
    // with the epilogue fused, one segment per grid row and a dropped one (GemmSeg::c null) for
    // the columns past Wo. Through a scratch tile and an epilogue pass instead (2 EPYC cores, best
    // of 3 alternations): the stem 3->64 224x224/2 b1 one thread 2.71 -> 2.63 ms, b32 43.8 ->
    // 42.6; 128->128 56x56/2 b1 2.55 -> 2.51; DenseNet's 48->12 3x3s at b128 even or faster.
    pl.into_output(&t, img, 0);
    std::vector<GemmSeg>& segs = t_segs;
    segs.clear();
    for (int64_t q = q0; q < q0 + nq;) {
      const int64_t y = q / Wq, x = q % Wq;
      GemmSeg sg;
      sg.col = q - q0;
      if (x < Wo) {
        sg.c = t.c + y * Wo + x;
        sg.res = t.res ? t.res + y * Wo + x : nullptr;
        q += std::min(Wo - x, q0 + nq - q);
      } else {
        q = std::min((y + 1) * Wq, q0 + nq);
      }
      segs.push_back(sg);
    }
    t.segs = segs.data(), t.nsegs = static_cast<int64_t>(segs.size());
    pl.isa.gemm(t);
  });
}

// conv2d_maxpool_cpu (conv2d.h): run_grid's phase mode for one band of the pool's output rows at
// a time. The pool's output rows [py0, py1) read the conv's rows [2 py0 - 1, 2 py1 - 1] (clipped
// to the map), so consecutive bands share one conv row: a thread running an image's bands in order
// keeps it (slot 0 of its buffer) for the next band. The GEMM writes the grid rows (Wq columns,
// Wq - Wo of them never read) straight into the buffer with the epilogue fused, and the pool
// (GemmIsa::max_pool_3s2) reads them there. Measured (2 EPYC cores, ResNet-50's stem 3->64
// 224x224/2 and its pool, `dice features --profile` per-step minima, DICE_CPU_FUSE=0 against the
// default): batch 32 (one image per thread, the depth-first prefix) 46.0-48.1 -> 42.2-42.8 ms;
// batch 1 (bands split between the threads) 1.44 -> 1.41. Bands of up to 256 KB measured alike
// at batch 32 and 1.45 at batch 1 (19 bands: one thread ran 10).
void run_grid_maxpool(Plan& pl, const Pool2dParams& pool, float* out, std::vector<char>* redo) {
  const Conv2dParams& p = pl.p;
  const int64_t nr = pl.isa.nr, M = pl.M, K = pl.K, Ho = p.out_height(), Wo = p.out_width();
  const GridInput g = phase_input(p, nr);
  const int64_t Wq = g.lay.wp, PH = pool.out_height(), PW = pool.out_width();
  // Bands of `band` pool rows: up to 2 * band + 1 conv rows of Wq floats per channel, at most
  // twice run_grid's scratch (half of L2 on the machine measured).
  const int64_t band_max = std::max<int64_t>(1, (2 * kScratchFloats / (M * Wq) - 1) / 2);
  int64_t bands = ceil_div(PH, band_max);
  // Whole images per thread where there are enough; else each image's bands in contiguous runs,
  // one per thread (a run's first band computes its shared row itself), as many bands in each.
  const int64_t parts = p.batch >= pl.threads ? 1 : std::min(bands, ceil_div(pl.threads, p.batch));
  bands = round_up(bands, parts);
  const int64_t band = ceil_div(PH, bands), ld = (2 * band + 1) * Wq;
  bands = ceil_div(PH, band);
  const int64_t items = p.batch * parts;
  std::atomic<int64_t> next{0};
  parallel_for(std::min(pl.threads, items), [&](int64_t, int64_t) {
    std::vector<float> buf(static_cast<size_t>(max_pool_3s2_buf(Wo)));
    for (int64_t item; (item = next.fetch_add(1, std::memory_order_relaxed)) < items;) {
      const int64_t img = item / parts, part = item % parts;
      float* copy = t_padded.get(g.floats(p.in_channels));
      grid_copy(pl, g, true, false, pl.in + img * pl.in_st, copy, 0, p.in_channels);
      t_padded_img = -1;  // no longer run_grid's copy
      float* scratch = t_scratch.get(M * ld);
      int64_t kept = -1;  // the conv row held in slot 0
      const int64_t b_end = bands * (part + 1) / parts;
      for (int64_t b = bands * part / parts; b < b_end; ++b) {
        const int64_t py0 = b * band, py1 = std::min(PH, py0 + band);
        // Conv rows [r0, r1), row r in slot r - r0; the first one kept from the last band.
        const int64_t r0 = std::max<int64_t>(0, 2 * py0 - 1), r1 = std::min(Ho, 2 * py1);
        const int64_t first = kept == r0 ? r0 + 1 : r0;
        GemmTile t;
        t.m = M, t.n = (r1 - first) * Wq, t.k = K;
        t.a = pl.a;
        t.b = copy + first * Wq, t.b_off = g.off(), t.b_chunk = nr;
        t.c = scratch + (first - r0) * Wq, t.ldc = ld;
        t.alpha = pl.al(), t.beta = pl.be(), t.relu = pl.f.out_relu;
        if (t.n > 0) pl.isa.gemm(t);
        for (int64_t o = 0; o < M; ++o) {
          MaxPoolRows rows;
          rows.x = scratch + o * ld, rows.r0 = r0, rows.h = Ho, rows.w = Wo, rows.ldx = Wq;
          rows.oy0 = py0, rows.oy1 = py1;
          rows.y = out + img * pool.out_stride() + (o * PH + py0) * PW;
          if (!pl.isa.max_pool_3s2(rows, buf.data())) (*redo)[static_cast<size_t>(img)] = 1;
        }
        // The last row is the next band's first.
        if (b + 1 == b_end) break;
        for (int64_t o = 0; o < M; ++o)
          std::memmove(scratch + o * ld, scratch + o * ld + (r1 - 1 - r0) * Wq,
                       sizeof(float) * static_cast<size_t>(Wq));
        kept = r1 - 1;
      }
    }
  });
}

// batch mode: for layers whose output map is small (ResNet-50's 7x7 stage, and the strided convs
// down to 14x14 and 7x7) the per-image modes waste the tail of each image's last nr-wide chunk (49
// pixels run as 64, 196 as 224) and, with tiles one image wide, stream the whole weight matrix
// (up to 9.4 MB, more than L2) once per 64 or so pixels. Here the columns are the whole batch's
// pixels, image after image, so chunks run full across image boundaries, and tiles are as wide as
// L2 allows. B is gathered (vector gathers through a per-column index) one K block at a time
// into a panel that stays in L2, the GEMM accumulates the blocks into a scratch tile, and an
// epilogue pass scatters the finished tile into each image's output rows with the fusions. Inputs
// that need padding are first copied, zero-bordered and with the prologue applied, for the whole
// batch (small maps only: 5 MB for ResNet-50's layer4 at batch 32).
// Measured on one core of a Xeon (AVX-512, 2 MB L2), ResNet-50 at batch 8: layer4's 3x3 convs
// 17.8-18.6 -> 14.8-15.9 ms, its 1x1s 8.2-8.5 -> 7.0-7.9, the strided convs into 14x14 4-7% faster.
// For stride-1 convs into 14x14 (12.5% waste) it measured no faster, so those stay per image; the
// stride-1 1x1s (where the scatter pass cost what the waste did) go to rows mode across images.
// The budgets (floats): the M x tile scratch half of L2, the K-block x tile panel a quarter. Tuned
// on the Xeon above (2 MiB of L2: 1 MiB and 512 KiB); on the AMD EPYC (1 MiB of L2) the halved
// budgets measured faster (2 cores, batch 32, best of 3 x 6, alternating builds): 256->256 28x28/2
// 45.3-46.4 -> 44.2-46.3 ms, 512->512 14x14/2 41.1-42.5 -> 39.5-40.1.
int64_t batch_scratch_floats() { return l2_cache_bytes() / 2 / 4; }
int64_t batch_panel_floats() { return l2_cache_bytes() / 4 / 4; }

thread_local AlignedBuf<float> t_batch_padded;

// Whether batch mode beats the per-image modes for this call: not a stride-1 unpadded 1x1 (rows
// mode, across images when that pays), more than one image, enough output channels to repay
// gathering B (each gathered float feeds 2 * M FLOPs), a small map whose per-image chunk tails
// cost at least 20% (8% where the per-image mode is a gather anyway), and offsets that fit in
// int32.
bool use_batch_mode(const Conv2dParams& p, int64_t nr) {
  if (p.kernel == 1 && p.stride == 1 && p.pad == 0) return false;
  if (p.batch < 2 || p.out_channels < 64) return false;
  const int64_t N = p.out_height() * p.out_width();
  const int64_t cols = p.stride == 1 ? p.out_height() * (p.width + 2 * p.pad) : N;
  const int64_t waste_pct = (round_up(cols, nr) - N) * 100 / N;
  if (N > 1024 || waste_pct < (p.stride > 1 ? 8 : 20)) return false;
  const int64_t per_image = p.pad > 0 ? p.in_channels * (p.height + 2 * p.pad) * (p.width + 2 * p.pad)
                                      : p.in_stride();
  return (p.batch + 1) * per_image < (int64_t{1} << 31);
}

void run_batch(Plan& pl) {
  const Conv2dParams& p = pl.p;
  const int64_t nr = pl.isa.nr, M = pl.M, K = pl.K, N = pl.N, S = p.stride, Wo = p.out_width();
  const bool copy = p.pad > 0;
  PaddedLayout lay;
  lay.wp = p.width + 2 * p.pad;
  lay.plane = copy ? (p.height + 2 * p.pad) * lay.wp : p.height * p.width;
  lay.slack = 16;
  const int64_t img_floats = copy ? p.in_channels * lay.plane : pl.in_st;
  const float* src = copy ? pad_batch(p, pl.in, pl.f, pl.isa, lay, pl.threads, &t_batch_padded)
                          : pl.in;
  const std::vector<int32_t>& off = tap_offsets(p, lay.plane, lay.wp);
  const int64_t T = p.batch * N;
  pl.choose_slices(T);
  int64_t tile, tiles;
  plan_tiles(T, nr, batch_scratch_floats() / M, pl.mslices > 1 ? 1 : 2 * pl.threads, &tile, &tiles);
  if (pl.mslices == 1) even_out_tiles(T, nr, 1, pl.threads, &tile, &tiles);
  // K blocks of at most batch_panel_floats() / tile rows, balanced.
  const int64_t kblocks = ceil_div(K, std::max<int64_t>(16, batch_panel_floats() / tile));
  // The source lines K block kb of tile item gathers: per image its columns touch, the input rows
  // under their output rows, in the block's channels.
  const int64_t taps = p.kernel * p.kernel, in_rows = copy ? p.height + 2 * p.pad : p.height;
  auto block_sources = [&](int64_t item, int64_t kb, std::vector<GemmRegion>* regions) {
    regions->clear();
    const int64_t c0 = item * tile, c1 = std::min(T, c0 + tile);
    const int64_t ch0 = K * kb / kblocks / taps, ch1 = ceil_div(K * (kb + 1) / kblocks, taps);
    for (int64_t c = c0; c < c1;) {
      const int64_t img = c / N, last = std::min(c1, (img + 1) * N) - 1;
      const int64_t y0 = c % N / Wo * S, y1 = std::min(in_rows, last % N / Wo * S + p.kernel);
      GemmRegion r;
      r.src = src + img * img_floats + ch0 * lay.plane + y0 * lay.wp;
      r.rows = ch1 - ch0, r.stride = lay.plane, r.row_floats = (y1 - y0) * lay.wp;
      regions->push_back(r);
      c = last + 1;
    }
  };
  pl.schedule_ahead(tiles, 1, [&](int64_t item, const Plan::Slice& sl, int64_t next) {
    std::vector<GemmRegion>& ahead = t_ahead;
    float* panel = t_panel.get(ceil_div(K, kblocks) * tile + nr);
    float* scratch = t_scratch.get(M * tile);
    int32_t* idx = t_idx.get(tile);
    const int64_t c0 = item * tile, n = std::min(tile, T - c0);
    for (int64_t j = 0; j < round_up(n, nr); ++j) {
      const int64_t c = c0 + std::min(j, n - 1);  // tail columns repeat the last pixel
      const int64_t img = c / N, pix = c % N;
      idx[j] = static_cast<int32_t>(img * img_floats + pix / Wo * S * lay.wp + pix % Wo * S);
    }
    for (int64_t kb = 0; kb < kblocks; ++kb) {
      const int64_t k0 = K * kb / kblocks, k1 = K * (kb + 1) / kblocks;
      PackGather pg;
      pg.src = src;
      pg.off = off.data() + k0, pg.idx = idx, pg.k = k1 - k0, pg.n = n;
      pg.taps = taps, pg.k0 = k0;
      pg.slack = copy ? lay.slack : 0;  // the padded copy's slack (the input itself has none)
      if (!copy) pg.scale = pl.f.in_scale, pg.shift = pl.f.in_shift;
      pg.dst = panel;
      pl.isa.pack_gather(pg);
      // The next block's source (or the next item's first) is prefetched while this one's GEMM
      // runs: the gathers otherwise wait on DRAM. Measured (2 EPYC cores, batch 32, best of 8,
      // three alternations): 256->256 28x28/2 43.5-44.1 -> 38.7-38.9 ms (pack_gather was 17.5% of
      // it), 512->512 14x14/2 39.0-39.5 -> 37.0-37.3.
      ahead.clear();
      if (kb + 1 < kblocks)
        block_sources(item, kb + 1, &ahead);
      else if (next >= 0)
        block_sources(next, 0, &ahead);
      GemmTile t;
      t.pf_src = ahead.data(), t.n_pf_src = static_cast<int64_t>(ahead.size());
      t.m = M, t.n = n, t.k = k1 - k0;
      t.rb_begin = sl.rb0, t.rb_end = sl.rb1;
      t.a = pl.a, t.a_k_total = K, t.a_k0 = k0, t.accumulate = kb > 0;
      t.b = panel, t.b_kstride = nr, t.b_chunk = (k1 - k0) * nr;
      t.c = scratch, t.ldc = tile;
      pl.isa.gemm(t);
    }
    // Scatter: each image's run of columns in this tile, row by row, with the epilogue.
    for (int64_t c = c0; c < c0 + n;) {
      const int64_t img = c / N, pix = c % N, len = std::min(N - pix, c0 + n - c);
      pl.epilogue_rows(scratch + (c - c0), tile, img, pix, len, sl);
      c += len;
    }
  });
}

// bf16 mode (weights from conv2d_cpu_pack(..., Precision::kBf16)): every conv runs as a grid mode
// (implicit for stride 1, a 1x1 included, as a copy with no border; phase for stride 2) over bf16
// pairs of channels (pair_copy), the GEMM being the bf16 table's VDPBF16PS micro-kernel and the
// epilogue the fp32 one. One mode for every shape keeps the pairing in one place; the copy it
// makes of each image is what rows mode's packing would cost anyway.
void run_bf16(const Conv2dParams& p, const float* in, const Conv2dCpuPacked& w, float* out,
              const ConvFusion& f) {
  const GemmIsa& bf = require_cpu_isa_bf16();
  DICE_ASSERT(w.bf16_mr == bf.mr);
  Plan pl(p, f, bf, in, nullptr, nullptr, out);
  pl.a = w.bf16.data();
  run_grid(pl, p.stride > 1, true);
}

// W [m][C][R*R] as pairs over the channels, [m][ceil(C/2)][R*R] (the tap order of pair_copy's
// copy), each 32-bit lane (bf16(w[o][2c][t]), bf16(w[o][2c+1][t]) or 0), then packed in the A
// layout of GemmTile for `mr`.
std::vector<float> pack_weights_bf16(const Conv2dParams& p, const float* w, int mr) {
  const int64_t m = p.out_channels, C = p.in_channels, RR = p.kernel * p.kernel;
  const int64_t C2 = ceil_div(C, int64_t{2}), k2 = C2 * RR;
  std::vector<float> pairs(static_cast<size_t>(m * k2));
  for (int64_t o = 0; o < m; ++o)
    for (int64_t c2 = 0; c2 < C2; ++c2)
      for (int64_t t = 0; t < RR; ++t) {
        const uint32_t lo = to_bits16(w[(o * C + 2 * c2) * RR + t], Precision::kBf16);
        const uint32_t hi = 2 * c2 + 1 < C ? to_bits16(w[(o * C + 2 * c2 + 1) * RR + t], Precision::kBf16) : 0;
        const uint32_t pair = lo | hi << 16;
        std::memcpy(&pairs[static_cast<size_t>((o * C2 + c2) * RR + t)], &pair, 4);
      }
  std::vector<float> a(pairs.size());
  pack_weights(pairs.data(), m, k2, mr, a.data());
  return a;
}

// -1: not read from the environment yet; otherwise the CpuConvAlgo value.
std::atomic<int> g_conv_algo{-1};

}  // namespace

void pad_image(const Conv2dParams& p, const float* x, const ConvFusion& f, const GemmIsa& isa,
               const PaddedLayout& l, float* dst) {
  PadPlane pp;
  pp.height = p.height, pp.width = p.width, pp.pad = p.pad, pp.plane = l.plane, pp.wp = l.wp;
  for (int64_t c = 0; c < p.in_channels; ++c) {
    pp.src = x + c * p.height * p.width;
    pp.dst = dst + c * l.plane;
    if (f.in_scale) pp.scale = f.in_scale + c, pp.shift = f.in_shift + c;
    isa.pad_plane(pp);
  }
  std::memset(dst + p.in_channels * l.plane, 0, sizeof(float) * static_cast<size_t>(l.slack));
}

float* pad_batch(const Conv2dParams& p, const float* in, const ConvFusion& f, const GemmIsa& isa,
                 const PaddedLayout& l, int64_t threads, AlignedBuf<float>* buf) {
  const int64_t img_floats = p.in_channels * l.plane;
  float* padded = buf->get(p.batch * img_floats + l.slack);
  PaddedLayout one = l;
  one.slack = 0;
  auto pad = [&](int64_t begin, int64_t end) {
    for (int64_t img = begin; img < end; ++img)
      pad_image(p, in + img * p.in_stride(), f, isa, one, padded + img * img_floats);
  };
  if (threads > 1)
    parallel_for(p.batch, pad);
  else
    pad(0, p.batch);
  std::memset(padded + p.batch * img_floats, 0, sizeof(float) * static_cast<size_t>(l.slack));
  return padded;
}

void rows_t_gemm(const GemmIsa& isa, int64_t N, int64_t K, int64_t M, const float* xt,
                 const float* wt, int64_t threads,
                 const std::function<void(int64_t, const float*)>& store) {
  const int64_t nr = isa.nr, chunks = ceil_div(M, nr);
  // One chunk per GEMM call: its weight panel (K x nr, 128 KB at K = 1024) stays in L2 while
  // every row block of pixels runs over it, and the call prefetches the next chunk's panel into
  // L2 (GemmTile::b_next; at batch 1 the weights stream from DRAM: 2-3% on the 7x7 downsample).
  const int64_t workers = std::min(threads, chunks);
  parallel_for(workers, [&](int64_t w0, int64_t w1) {
    float* row = t_row.get(N);
    float* tmp = t_scratch.get(N * nr);
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t q1 = chunks * (w + 1) / workers;
      for (int64_t q = chunks * w / workers; q < q1; ++q) {
        const int64_t c0 = q * nr, cn = std::min(nr, M - c0);
        GemmTile t;
        t.m = N, t.n = cn, t.k = K;
        t.a = xt;
        t.b = wt + q * K * nr, t.b_kstride = nr, t.b_chunk = K * nr;
        if (q + 1 < q1) t.b_next = t.b + K * nr, t.b_next_floats = K * nr;
        t.c = tmp, t.ldc = nr;
        isa.gemm(t);
        // C^T back to rows, one output channel at a time.
        for (int64_t j = 0; j < cn; ++j) {
          for (int64_t i = 0; i < N; ++i) row[i] = tmp[i * nr + j];
          store(c0 + j, row);
        }
      }
    }
  });
}

bool conv2d_rows_t(const Conv2dParams& p, const ConvFusion& f, int64_t nr) {
  return use_rows_t(p, f, nr);
}

int64_t l2_cache_bytes() {
  static const int64_t bytes = [] {
    const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    return std::min<int64_t>(8 << 20, std::max<int64_t>(256 << 10, l2 > 0 ? l2 : 1 << 20));
  }();
  return bytes;
}

void fold_epilogue(const ConvFusion& f, int64_t channels, std::vector<float>* alpha,
                   std::vector<float>* beta) {
  alpha->clear(), beta->clear();
  if (!f.out_scale && !f.bias) return;
  alpha->resize(static_cast<size_t>(channels));
  beta->resize(static_cast<size_t>(channels));
  for (int64_t o = 0; o < channels; ++o) {
    const float s = f.out_scale ? f.out_scale[o] : 1.0f, b = f.bias ? f.bias[o] : 0.0f;
    (*alpha)[o] = s;
    (*beta)[o] = f.out_scale ? b * s + f.out_shift[o] : b;
  }
}

CpuConvAlgo parse_cpu_conv_algo(const char* name, const char* what) {
  if (!std::strcmp(name, "direct")) return CpuConvAlgo::kDirect;
  if (!std::strcmp(name, "winograd")) return CpuConvAlgo::kWinograd;
  if (!std::strcmp(name, "winograd-all")) return CpuConvAlgo::kWinogradAll;
  if (!std::strcmp(name, "winograd4-all")) return CpuConvAlgo::kWinograd4All;
  throw_error(what, "='", name, "' is not one of direct, winograd, winograd-all, winograd4-all");
}

CpuConvAlgo cpu_conv_algo() {
  int a = g_conv_algo.load(std::memory_order_relaxed);
  if (a < 0) {
    const char* e = std::getenv("DICE_CPU_CONV");
    a = static_cast<int>(e && *e ? parse_cpu_conv_algo(e, "DICE_CPU_CONV") : CpuConvAlgo::kWinograd);
    g_conv_algo.store(a, std::memory_order_relaxed);
  }
  return static_cast<CpuConvAlgo>(a);
}

CpuConvAlgo set_cpu_conv_algo(CpuConvAlgo algo) {
  const CpuConvAlgo old = cpu_conv_algo();
  g_conv_algo.store(static_cast<int>(algo), std::memory_order_relaxed);
  return old;
}

// Parallel over (image, pixel tile) items, handed out dynamically; per item one GEMM tile of all
// output channels (micro-tiles of isa.mr channels x isa.nr pixels, see gemm_kernels.inc).
namespace {
void conv2d_cpu_impl(const Conv2dParams& p, const float* in, const float* weight,
                     const Conv2dCpuPacked* prepacked, float* out, const ConvFusion& f) {
  DICE_ASSERT(p.batch >= 0 && p.in_channels > 0 && p.out_channels > 0 && p.kernel > 0 &&
              p.stride > 0 && p.pad >= 0 && p.height > 0 && p.width > 0);
  DICE_ASSERT((f.in_scale == nullptr) == (f.in_shift == nullptr));
  DICE_ASSERT((f.out_scale == nullptr) == (f.out_shift == nullptr));
  DICE_ASSERT(p.out_height() > 0 && p.out_width() > 0);
  if (p.batch == 0) return;

  const GemmIsa& isa = cpu_isa();
  const int wtile = conv2d_winograd_tile(p, f.residual != nullptr);
  const bool winograd = wtile > 0;
  const bool wino_t = winograd && conv2d_winograd_transposed(p, wtile, isa.nr);
  if (winograd && prepacked && prepacked->mr == isa.mr && prepacked->winograd_tile == wtile &&
      prepacked->winograd_nr == (wino_t ? isa.nr : 0)) {
    conv2d_winograd_cpu(p, in, prepacked->winograd.data(), out, f, isa, wtile, wino_t);
    return;
  }
  if (prepacked && !prepacked->bf16.empty()) {
    run_bf16(p, in, *prepacked, out, f);
    return;
  }
  std::vector<float> unpacked;
  // Packed for another ISA (capped since), or without the Winograd filters this call needs: back
  // to PyTorch's layout, and packed below as for an unpacked call.
  if (prepacked && (prepacked->mr != isa.mr || winograd)) {
    unpacked.resize(prepacked->a.size());
    unpack_weights(prepacked->a.data(), p.out_channels, p.in_channels * p.kernel * p.kernel,
                   prepacked->mr, unpacked.data());
    weight = unpacked.data();
    prepacked = nullptr;
  }
  if (winograd) {
    const std::vector<float> u = conv2d_winograd_pack(p, weight, isa, wtile, wino_t);
    conv2d_winograd_cpu(p, in, u.data(), out, f, isa, wtile, wino_t);
    return;
  }
  if (use_rows_t(p, f, isa.nr)) {
    const int64_t M = p.out_channels, K = p.in_channels * p.kernel * p.kernel;
    std::vector<float> wt_own;
    const float* wt = nullptr;
    if (prepacked && prepacked->at_nr == isa.nr) {
      wt = prepacked->at.data();
    } else {
      if (!weight) {  // packed without W^T (another nr): back to PyTorch's layout first
        unpacked.resize(static_cast<size_t>(M * K));
        unpack_weights(prepacked->a.data(), M, K, prepacked->mr, unpacked.data());
        weight = unpacked.data();
      }
      wt_own.resize(static_cast<size_t>(round_up(M, isa.nr) * K));
      pack_weights_t(weight, M, K, isa.nr, wt_own.data());
      wt = wt_own.data();
    }
    Plan pl(p, f, isa, in, nullptr, nullptr, out);
    run_rows_t(pl, wt);
    return;
  }
  if (use_subsample(p, f)) {
    Conv2dParams q;
    const float* sub = subsample_input(p, in, isa, &q);
    Plan pl(q, f, isa, sub, weight, prepacked, out);
    if (use_rows_batch(q, isa.nr))
      run_rows_batch(pl);
    else
      run_rows(pl);
    return;
  }
  Plan pl(p, f, isa, in, weight, prepacked, out);
  if (use_rows_batch(p, isa.nr))
    run_rows_batch(pl);
  else if (use_batch_mode(p, isa.nr))
    run_batch(pl);
  else if (p.kernel == 1 && p.stride == 1 && p.pad == 0)
    run_rows(pl);
  else
    run_grid(pl, p.stride > 1);
}

}  // namespace

void conv2d_cpu(const Conv2dParams& p, const float* in, const float* weight, float* out,
                const ConvFusion& f) {
  conv2d_cpu_impl(p, in, weight, nullptr, out, f);
}

bool conv2d_maxpool_fusable(const Conv2dParams& p, const ConvFusion& f, const Conv2dCpuPacked& w,
                            const Pool2dParams& pool) {
  const GemmIsa& isa = cpu_isa();
  // conv2d_cpu_impl's choice for this call: phase mode (run_grid) with the packed weights as
  // they are.
  const bool phase = p.batch > 0 && p.kernel > 1 && p.stride > 1 && !f.residual && !w.a.empty() &&
                     w.bf16.empty() && w.mr == isa.mr && conv2d_winograd_tile(p, false) == 0 &&
                     !use_batch_mode(p, isa.nr) && p.out_batch_stride == 0;
  return phase && pool.kernel == 3 && pool.stride == 2 && pool.pad == 1 && pool.batch == p.batch &&
         pool.channels == p.out_channels && pool.height == p.out_height() &&
         pool.width == p.out_width() && pool.in_batch_stride == 0;
}

void conv2d_maxpool_cpu(const Conv2dParams& p, const float* in, const Conv2dCpuPacked& w,
                        const ConvFusion& f, const Pool2dParams& pool, float* out) {
  DICE_ASSERT(conv2d_maxpool_fusable(p, f, w, pool));
  Plan pl(p, f, cpu_isa(), in, nullptr, &w, nullptr);
  std::vector<char> redo(static_cast<size_t>(p.batch), 0);
  run_grid_maxpool(pl, pool, out, &redo);
  // A NaN or an infinity in an image's conv output: the two calls, for their NaN semantics.
  for (int64_t img = 0; img < p.batch; ++img) {
    if (!redo[static_cast<size_t>(img)]) continue;
    Conv2dParams one = p;
    one.batch = 1, one.in_batch_stride = p.in_stride();
    Pool2dParams pone = pool;
    pone.batch = 1;
    std::vector<float> conv(static_cast<size_t>(one.out_stride()));
    conv2d_cpu(one, in + img * p.in_stride(), w, conv.data(), f);
    max_pool2d_cpu(pone, conv.data(), out + img * pool.out_stride());
  }
}

// The fp32 Winograd filters for the convs the CpuConvAlgo now runs as Winograd (none elsewhere).
void pack_winograd_filters(const Conv2dParams& p, const float* weight, Conv2dCpuPacked* w) {
  w->winograd_tile = conv2d_winograd_tile(p, false);
  if (!w->winograd_tile) return;
  const bool t = conv2d_winograd_transposed(p, w->winograd_tile, cpu_isa().nr);
  w->winograd_nr = t ? cpu_isa().nr : 0;
  w->winograd = conv2d_winograd_pack(p, weight, cpu_isa(), w->winograd_tile, t);
}

Conv2dCpuPacked conv2d_cpu_pack(const Conv2dParams& p, const float* weight, Precision precision) {
  const int64_t m = p.out_channels, k = p.in_channels * p.kernel * p.kernel;
  DICE_ASSERT(m > 0 && k > 0);
  Conv2dCpuPacked w;
  if (precision == Precision::kBf16) {
    w.bf16_mr = require_cpu_isa_bf16().mr;
    w.bf16 = pack_weights_bf16(p, weight, w.bf16_mr);
    // The convs Winograd takes (under the CpuConvAlgo now) keep it, in fp32: it beat the bf16 GEMM
    // on ResNet-50's 3x3s (2 EPYC cores, b32: 128 28x28 15.2 vs 19.5 ms, 256 14x14 16.4 vs 19.5;
    // 64 56x56 and 512 7x7 even). Called under another setting, such a conv runs bf16 instead.
    // Not at stride 2, where the bf16 GEMM is the faster (b32: 128 56x56/2 23.9-25.2 ms against
    // 32.6-34.3 for F(2x2) in fp32, 256 28x28/2 23.8-25.1 against 29.7-53.1).
    if (p.stride == 1) pack_winograd_filters(p, weight, &w);
    if (w.winograd_tile) w.mr = cpu_isa().mr;  // what conv2d_cpu checks the filters' ISA by
    return w;
  }
  if (precision != Precision::kFp32)
    throw_error("conv2d_cpu: precision ", precision_name(precision), " runs on the GPU only; the CPU runs fp32 or bf16");
  w.mr = cpu_isa().mr;
  w.a.resize(static_cast<size_t>(m * k));
  pack_weights(weight, m, k, w.mr, w.a.data());
  Conv2dParams one = p;
  one.batch = 1;
  if (use_rows_t(one, {}, cpu_isa().nr)) {
    w.at_nr = cpu_isa().nr;
    w.at.resize(static_cast<size_t>(round_up(m, w.at_nr) * k));
    pack_weights_t(weight, m, k, w.at_nr, w.at.data());
  }
  pack_winograd_filters(p, weight, &w);
  return w;
}

void conv2d_cpu(const Conv2dParams& p, const float* in, const Conv2dCpuPacked& w, float* out,
                const ConvFusion& f) {
  // bf16: pairs over the input channels; fp32: the A layout.
  const int64_t channels = w.bf16.empty() ? p.in_channels : ceil_div(p.in_channels, int64_t{2});
  DICE_ASSERT((w.bf16.empty() ? w.a : w.bf16).size() ==
              static_cast<size_t>(p.out_channels * channels * p.kernel * p.kernel));
  conv2d_cpu_impl(p, in, nullptr, &w, out, f);
}

}  // namespace dice
