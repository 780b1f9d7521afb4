// 1x1 convs on activations in column panels (see conv2d_panel.h): the batch's columns are cut
// into items of whole panels, handed out dynamically to the threads; each item is one GEMM call
// over all output channels, its B the input's panels themselves (stride 1), a gather of the
// strided columns into a local panel (stride 2), or, for an NCHW input, the same packing as
// conv2d_cpu's rows mode across images; its C the output's panels (rows nr floats apart) or the
// NCHW planes through per-image segments. For an NCHW input, while an item computes, the lines of
// its thread's next item's source (K rows HW floats apart) are prefetched into L2
// (GemmTile::pf_src), as conv2d_cpu's rows mode does; input panels are one contiguous run per
// item, which the hardware prefetcher follows by itself: prefetching them too measured slower (2
// EPYC cores, batch 32, both sides in panels, best of 10, three alternations: 1024->256 14x14
// 15.0-15.2 -> 14.7-14.8 ms, 512->128 28x28 15.6-16.0 -> 14.9-15.1, 256->1024 14x14 with its
// residual 15.2-16.4 -> 15.2).
// A narrow last panel (the batch's columns not a multiple of nr) gets GEMM calls of its own: as B
// it is first copied into a whole panel, as C its rows are stored T % nr floats apart. Where the
// output channels outnumber the columns, each thread takes a slice of them over every item; where
// conv2d_cpu runs rows-t (strided, batch 1), so does this, its X^T gathered from the panels.
#include <algorithm>
#include <atomic>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"
#include "kernels/conv2d_cpu_util.h"
#include "kernels/conv2d_panel.h"
#include "kernels/gemm_cpu.h"

namespace dice {
namespace {

std::atomic<int> g_panels{-1};  // -1: not read from DICE_CPU_PANELS yet

thread_local AlignedBuf<float> t_panel, t_narrow;
thread_local std::vector<GemmSeg> t_segs;
thread_local std::vector<GatherRun> t_runs;
thread_local std::vector<GemmRegion> t_ahead;

}  // namespace

int64_t cpu_panel_width() { return cpu_isa().nr; }

bool cpu_panels_fit(int64_t batch, int64_t pixels) {
  return batch > 0 && pixels > 0 && batch * pixels % cpu_panel_width() == 0;
}

bool cpu_panels_enabled() {
  int v = g_panels.load(std::memory_order_relaxed);
  if (v < 0) {
    const char* env = std::getenv("DICE_CPU_PANELS");
    v = env && env[0] == '0' && env[1] == '\0' ? 0 : 1;
    g_panels.store(v, std::memory_order_relaxed);
  }
  return v == 1;
}

bool set_cpu_panels_enabled(bool on) {
  const bool old = cpu_panels_enabled();
  g_panels.store(on ? 1 : 0, std::memory_order_relaxed);
  return old;
}

bool conv2d_panels_supported(const Conv2dParams& p, const ConvFusion& f,
                             const Conv2dCpuPacked& w) {
  return p.kernel == 1 && p.pad == 0 && (p.stride == 1 || p.stride == 2) && !f.in_scale &&
         p.in_batch_stride == 0 && p.out_batch_stride == 0 && w.bf16.empty() && !w.a.empty();
}

void conv2d_cpu_panels(const Conv2dParams& p, ActLayout in_layout, const float* in,
                       const Conv2dCpuPacked& w, ActLayout out_layout, float* out,
                       const ConvFusion& f) {
  DICE_ASSERT(conv2d_panels_supported(p, f, w));
  const bool in_panels = in_layout == ActLayout::kPanels;
  const bool out_panels = out_layout == ActLayout::kPanels;
  DICE_ASSERT(in_panels || p.stride == 1);
  const GemmIsa& isa = cpu_isa();
  const int64_t nr = isa.nr, M = p.out_channels, K = p.in_channels, S = p.stride;
  const int64_t H = p.height, W = p.width, HW = H * W, Wo = p.out_width();
  const int64_t N = p.out_height() * Wo, T = p.batch * N, chunks = ceil_div(T, nr);
  const int64_t T_in = p.batch * HW;
  // The output's narrow last panel (T % nr columns; 0: none). At stride 1 the input's is the same.
  const int64_t narrow = T % nr;

  // Weights packed for another instruction set (capped since): repacked for this one.
  std::vector<float> repacked;
  const float* a = w.a.data();
  if (w.mr != isa.mr) {
    std::vector<float> plain(static_cast<size_t>(M * K));
    unpack_weights(w.a.data(), M, K, w.mr, plain.data());
    repacked.resize(plain.size());
    pack_weights(plain.data(), M, K, isa.mr, repacked.data());
    a = repacked.data();
  }
  std::vector<float> alpha, beta;
  fold_epilogue(f, M, &alpha, &beta);
  const float* al = alpha.empty() ? nullptr : alpha.data();
  const float* be = beta.empty() ? nullptr : beta.data();

  const int64_t threads = p.flops() < kMinParallelConvFlops ? 1 : num_threads();

  // The input column of output column j (stride 2 subsamples rows and columns).
  auto source_col = [&](int64_t j) {
    const int64_t img = j / N, pix = j % N;
    return img * HW + pix / Wo * S * W + pix % Wo * S;
  };
  // Stride 2 from panels: output columns [j, j + count) as GemmIsa::gather_s2's runs (entry d0 =
  // the column's place in the count). An output row's columns read every other input column of a
  // row, so they come in runs of up to nr / 2 from one input panel.
  auto stride2_runs = [&](int64_t j, int64_t count, std::vector<GatherRun>* runs) {
    runs->clear();
    int64_t prev = -2;  // the last column's input column
    for (int64_t l = 0; l < count; ++l) {
      const int64_t col = source_col(j + l);
      if (col != prev + 2 || col % nr < 2 || runs->back().n == nr / 2) {
        GatherRun r;
        r.src = panel_element_offset(col, 0, K, T_in, nr) - col % nr;
        r.ld = panel_element_offset(col, 1, K, T_in, nr) - r.src - col % nr;
        r.l0 = static_cast<int>(col % nr), r.d0 = static_cast<int>(l);
        runs->push_back(r);
      }
      ++runs->back().n;
      prev = col;
    }
  };

  // Where conv2d_cpu would run rows-t (a strided 1x1 at batch 1 whose output pixel count wastes
  // columns: ResNet-50's downsamples to 14x14 and 7x7), the same transposed GEMM, X^T gathered
  // from the panels: the same sums, so the same bits. (Against the column GEMM over a gathered
  // panel, 2 EPYC cores, `--profile` per-step minima at batch 1: layer4.0.downsample 1.25 ->
  // 1.05 ms.)
  if (in_panels && w.at_nr == nr && conv2d_rows_t(p, f, nr)) {
    const int64_t mr = isa.mr, blocks = gemm_row_blocks(N, mr);
    float* xt = t_panel.get(N * K);
    DICE_ASSERT(S == 2);  // rows-t is strided, and this path takes strides 1 and 2 only
    std::vector<GatherRun>& runs = t_runs;
    for (int64_t bk = 0; bk < blocks; ++bk) {  // block bk of X^T: [K][its pixels]
      const int64_t r0 = gemm_row_block_start(N, blocks, bk);
      const int64_t rows = gemm_row_block_start(N, blocks, bk + 1) - r0;
      stride2_runs(r0, rows, &runs);
      PanelGather pg;
      pg.in = in, pg.runs = runs.data(), pg.nruns = static_cast<int64_t>(runs.size());
      pg.k = K, pg.dst = xt + r0 * K, pg.ldd = rows;
      isa.gather_s2(pg);
    }
    rows_t_gemm(isa, N, K, M, xt, w.at.data(), threads, [&](int64_t o, const float* row) {
      const float* oa = al ? al + o : nullptr;
      const float* ob = be ? be + o : nullptr;
      if (!out_panels) {
        isa.epilogue_row(row, out + o * N, N, oa, ob, f.residual ? f.residual + o * N : nullptr,
                         f.out_relu);
        return;
      }
      for (int64_t i = 0; i < N;) {  // one run per panel
        const int64_t len = std::min(nr - i % nr, N - i), at = panel_element_offset(i, o, M, T, nr);
        isa.epilogue_row(row + i, out + at, len, oa, ob, f.residual ? f.residual + at : nullptr,
                         f.out_relu);
        i += len;
      }
    });
    return;
  }

  // Where the weights outweigh the columns (M > T: ResNet-50's 14x14 and 7x7 stages at batch 1),
  // each thread takes a slice of the output channels and every item, so the weights stream once in
  // all, as conv2d_cpu's rows mode does (Plan::choose_slices); otherwise items of columns are
  // handed out dynamically.
  const int64_t blocks = gemm_row_blocks(M, isa.mr);
  const int64_t mslices = threads > 1 && M >= 2 * threads * isa.mr && M > T ? threads : 1;
  // Items of whole panels: within the B budget, and at least two per thread where there are.
  int64_t per_item = std::max<int64_t>(1, kRowsPanelFloats / (K * nr));
  if (mslices == 1)
    per_item = std::min(per_item, std::max<int64_t>(1, ceil_div(chunks, 2 * threads)));
  const int64_t items = ceil_div(chunks, per_item);

  // The input lines an item reads, as prefetch regions (NCHW input only: see the file's head).
  auto sources = [&](int64_t item, std::vector<GemmRegion>* regions) {
    const int64_t j0 = item * per_item * nr, j1 = std::min(T, j0 + per_item * nr);
    for_each_image_run(j0, j1, N, [&](int64_t img, int64_t pix, int64_t len, int64_t) {
      GemmRegion r;
      r.src = in + img * K * HW + pix, r.rows = K, r.row_floats = len, r.stride = HW;
      regions->push_back(r);
    });
  };

  // The input's narrow last panel (stride 1; rows T % nr apart) as a whole panel with zero lanes
  // past it, since the micro-kernel reads nr lanes: copied once, here.
  const float* narrow_b = nullptr;
  if (in_panels && S == 1 && narrow) {
    float* panel = t_narrow.get(K * nr);
    const float* src = in + (T - narrow) * K;
    for (int64_t c = 0; c < K; ++c) {
      std::copy(src + c * narrow, src + (c + 1) * narrow, panel + c * nr);
      std::fill(panel + c * nr + narrow, panel + (c + 1) * nr, 0.0f);
    }
    narrow_b = panel;
  }

  std::atomic<int64_t> next{0};
  parallel_for(mslices > 1 ? mslices : std::min(threads, items), [&](int64_t w0, int64_t w1) {
    for (int64_t w = w0; w < w1; ++w) {
      std::vector<GemmSeg>& segs = t_segs;
      std::vector<GemmRegion>& ahead = t_ahead;
      // This thread's row blocks: its slice, or all of them.
      const int64_t rb0 = mslices > 1 ? blocks * w / mslices : 0;
      const int64_t rb1 = mslices > 1 ? blocks * (w + 1) / mslices : blocks;
      int64_t item = mslices > 1 ? 0 : next.fetch_add(1, std::memory_order_relaxed);
      auto claim = [&]() {
        return mslices > 1 ? item + 1 : next.fetch_add(1, std::memory_order_relaxed);
      };
      // Columns [ja, jb) of the item starting at column j0, B given (panels of nr columns, rows
      // b_kstride floats apart): one GEMM call, C and the residual per the output layout.
      auto gemm = [&](int64_t ja, int64_t jb, const float* b, int64_t b_kstride) {
        GemmTile t;
        t.m = M, t.n = jb - ja, t.k = K;
        t.rb_begin = rb0, t.rb_end = rb1;
        t.a = a;
        t.b = b, t.b_kstride = b_kstride, t.b_chunk = K * nr;
        const int64_t q = ja / nr;
        if (out_panels) {
          // The narrow last panel: one chunk, its rows T % nr floats apart.
          const int64_t ld = narrow && jb == T && jb - ja < nr ? narrow : nr;
          t.c = out + q * M * nr, t.ldc = ld, t.c_chunk = M * nr;
          if (f.residual) t.res = f.residual + q * M * nr, t.ldr = ld, t.r_chunk = M * nr;
        } else {
          segs.clear();
          for_each_image_run(ja, jb, N, [&](int64_t img, int64_t pix, int64_t, int64_t j) {
            GemmSeg sg;
            sg.col = j - ja;
            sg.c = out + img * M * N + pix;
            sg.res = f.residual ? f.residual + img * M * N + pix : nullptr;
            segs.push_back(sg);
          });
          t.segs = segs.data(), t.nsegs = static_cast<int64_t>(segs.size());
          t.ldc = N, t.res = f.residual, t.ldr = N;
        }
        t.alpha = al, t.beta = be, t.relu = f.out_relu;
        t.pf_src = ahead.data(), t.n_pf_src = static_cast<int64_t>(ahead.size());
        isa.gemm(t);
        ahead.clear();  // prefetched by this call
      };
      for (int64_t upcoming; item < items; item = upcoming) {
        upcoming = claim();
        const int64_t q0 = item * per_item, j0 = q0 * nr, j1 = std::min(T, j0 + per_item * nr);
        const int64_t n = j1 - j0;
        ahead.clear();
        if (upcoming < items && !in_panels) sources(upcoming, &ahead);
        if (in_panels && S == 1) {
          // B is the input's panels themselves (the narrow last one copied, above).
          const int64_t jw = narrow && j1 == T ? j1 - narrow : j1;
          if (jw > j0) gemm(j0, jw, in + q0 * K * nr, nr);
          if (jw < j1) gemm(jw, j1, narrow_b, nr);
          continue;
        }
        float* panel = t_panel.get(per_item * K * nr);
        if (in_panels) {
          // Stride 2: gather the columns into a local panel, zeros past the last one.
          std::vector<GatherRun>& runs = t_runs;
          for (int64_t q = 0; q < ceil_div(n, nr); ++q) {
            const int64_t lanes = std::min(nr, n - q * nr);
            stride2_runs(j0 + q * nr, lanes, &runs);
            float* d = panel + q * K * nr;
            PanelGather pg;
            pg.in = in, pg.runs = runs.data(), pg.nruns = static_cast<int64_t>(runs.size());
            pg.k = K, pg.dst = d;
            isa.gather_s2(pg);
            if (lanes < nr)
              for (int64_t c = 0; c < K; ++c) std::fill(d + c * nr + lanes, d + (c + 1) * nr, 0.0f);
          }
        } else {
          // NCHW input: pack each image's run of columns (conv2d_cpu's rows mode across images).
          for_each_image_run(j0, j1, N, [&](int64_t img, int64_t pix, int64_t len, int64_t j) {
            PackRows pr;
            pr.src = in + img * K * HW, pr.plane = HW, pr.k = K, pr.n0 = pix, pr.n = len;
            pr.d0 = j - j0, pr.dst = panel;
            isa.pack_rows(pr);
          });
        }
        // A narrow last output panel is stored by a call of its own (its rows are closer).
        const int64_t jw = out_panels && narrow && j1 == T ? j1 - narrow : j1;
        if (jw > j0) gemm(j0, jw, panel, nr);
        if (jw < j1) gemm(jw, j1, panel + (jw - j0) * K, nr);
      }
    }
  });
}

namespace {
// global_avg_pool_panels' running sums of CB channels (nr floats apart) for `lanes` consecutive
// pixels starting at the image's pixel i0: pixel i into sum i % 4 (the pixels from `body` on into
// sum 0), each sum in pixel order. CB channels side by side keep 4 * CB add chains in flight.
template <int CB>
void add_lanes(const float* x, int64_t nr, int64_t lanes, int64_t i0, int64_t body, double* sums) {
  double s[CB][4];
  for (int b = 0; b < CB; ++b)
    for (int j = 0; j < 4; ++j) s[b][j] = sums[b * 4 + j];
  int64_t l = 0, i = i0;
  // One pixel, its sum picked by constant indices so that s stays in registers.
  auto one = [&]() {
    const int64_t k = i < body ? i % 4 : 0;
    for (int b = 0; b < CB; ++b) {
      const double v = static_cast<double>(x[b * nr + l]);
      if (k == 0) s[b][0] += v;
      else if (k == 1) s[b][1] += v;
      else if (k == 2) s[b][2] += v;
      else s[b][3] += v;
    }
  };
  for (; l < lanes && i % 4 != 0; ++l, ++i) one();
  for (; l + 4 <= lanes && i + 4 <= body; l += 4, i += 4)
    for (int b = 0; b < CB; ++b)
      for (int j = 0; j < 4; ++j) s[b][j] += static_cast<double>(x[b * nr + l + j]);
  for (; l < lanes; ++l, ++i) one();
  for (int b = 0; b < CB; ++b)
    for (int j = 0; j < 4; ++j) sums[b * 4 + j] = s[b][j];
}
}  // namespace

void global_avg_pool_panels(int64_t batch, int64_t channels, int64_t hw, const float* in,
                            float* out) {
  DICE_ASSERT(batch > 0 && channels > 0 && hw > 0);
  const int64_t nr = cpu_panel_width(), columns = batch * hw;
  // global_avg_pool_cpu's order per channel: four running sums (pixel i into sum i % 4, the last
  // hw % 4 pixels into sum 0), each in pixel order, then (s0 + s1) + (s2 + s3). Here the image's
  // panels are read in memory order, which visits each channel's pixels in that same order.
  const int64_t body = hw - hw % 4;
  parallel_for(batch, [&](int64_t begin, int64_t end) {
    std::vector<double> sum(static_cast<size_t>(channels * 4));
    for (int64_t n = begin; n < end; ++n) {
      std::fill(sum.begin(), sum.end(), 0.0);
      for (int64_t col = n * hw; col < (n + 1) * hw;) {
        const int64_t lane0 = col % nr, lanes = std::min(nr - lane0, (n + 1) * hw - col);
        const float* chunk = in + panel_element_offset(col, 0, channels, columns, nr);
        const int64_t ld = panel_element_offset(col, 1, channels, columns, nr) -
                           panel_element_offset(col, 0, channels, columns, nr);  // row stride
        const int64_t i0 = col - n * hw;  // the image's pixel in lane lane0
        int64_t c = 0;
        for (; c + 4 <= channels; c += 4)
          add_lanes<4>(chunk + c * ld, ld, lanes, i0, body, &sum[c * 4]);
        for (; c < channels; ++c) add_lanes<1>(chunk + c * ld, ld, lanes, i0, body, &sum[c * 4]);
        col += lanes;
      }
      for (int64_t c = 0; c < channels; ++c) {
        const double* sc = sum.data() + c * 4;
        const double total = (sc[0] + sc[1]) + (sc[2] + sc[3]);
        out[n * channels + c] = static_cast<float>(total / static_cast<double>(hw));
      }
    }
  });
}

void nchw_image_to_panels(const float* src, int64_t image, int64_t batch, int64_t channels,
                          int64_t pixels, float* panels) {
  DICE_ASSERT(image >= 0 && image < batch);
  const int64_t nr = cpu_panel_width(), columns = batch * pixels;
  // Run by run of the image's columns within one panel: each channel's run is contiguous on
  // both sides.
  for (int64_t x = 0; x < pixels;) {
    const int64_t col = image * pixels + x, lane = col % nr, len = std::min(nr - lane, pixels - x);
    float* d = panels + panel_element_offset(col, 0, channels, columns, nr);
    const int64_t ld = panel_element_offset(col, 1, channels, columns, nr) -
                       panel_element_offset(col, 0, channels, columns, nr);
    for (int64_t c = 0; c < channels; ++c)
      std::copy(src + c * pixels + x, src + c * pixels + x + len, d + c * ld);
    x += len;
  }
}

void panels_to_nchw(const float* panels, int64_t batch, int64_t channels, int64_t pixels,
                    float* dst) {
  const int64_t nr = cpu_panel_width(), columns = batch * pixels;
  for (int64_t col = 0; col < columns; ++col)
    for (int64_t c = 0; c < channels; ++c)
      dst[(col / pixels * channels + c) * pixels + col % pixels] =
          panels[panel_element_offset(col, c, channels, columns, nr)];
}

}  // namespace dice
