// 1x1 convs on activations in column panels (see conv2d_panel.h): the batch's columns are cut
// into items of whole panels, handed out dynamically to the threads; each item is one GEMM call
// over all output channels, its B the input's panels themselves (stride 1), a gather of the
// strided columns into a local panel (stride 2), or, for an NCHW input, the same packing as
// conv2d_cpu's rows mode across images; its C the output's panels (rows nr floats apart) or the
// NCHW planes through per-image segments. While an item computes, the lines of its thread's next
// item's source are prefetched into L2 (GemmTile::pf_src), as conv2d_cpu's rows mode does.
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

thread_local AlignedBuf<float> t_panel;
thread_local std::vector<GemmSeg> t_segs;
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
  DICE_ASSERT(!in_panels || p.batch * HW % nr == 0);
  DICE_ASSERT(!out_panels || T % nr == 0);

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
  // Items of whole panels: within the B budget, and at least two per thread where there are.
  int64_t per_item = std::max<int64_t>(1, kRowsPanelFloats / (K * nr));
  per_item = std::min(per_item, std::max<int64_t>(1, ceil_div(chunks, 2 * threads)));
  const int64_t items = ceil_div(chunks, per_item);

  // The input column of output column j (stride 2 subsamples rows and columns).
  auto source_col = [&](int64_t j) {
    const int64_t img = j / N, pix = j % N;
    return img * HW + pix / Wo * S * W + pix % Wo * S;
  };
  // Where input column `col`, channel 0, sits in the input panels.
  auto panel_at = [&](int64_t col) { return col / nr * K * nr + col % nr; };
  // The input lines item reads, as prefetch regions.
  auto sources = [&](int64_t item, std::vector<GemmRegion>* regions) {
    const int64_t j0 = item * per_item * nr, j1 = std::min(T, j0 + per_item * nr);
    if (in_panels) {
      const int64_t first = source_col(j0) / nr, last = source_col(j1 - 1) / nr;
      GemmRegion r;
      r.src = in + first * K * nr, r.rows = 1, r.row_floats = (last - first + 1) * K * nr;
      regions->push_back(r);
      return;
    }
    for_each_image_run(j0, j1, N, [&](int64_t img, int64_t pix, int64_t len, int64_t) {
      GemmRegion r;
      r.src = in + img * K * HW + pix, r.rows = K, r.row_floats = len, r.stride = HW;
      regions->push_back(r);
    });
  };

  std::atomic<int64_t> next{0};
  parallel_for(std::min(threads, items), [&](int64_t, int64_t) {
    std::vector<GemmSeg>& segs = t_segs;
    std::vector<GemmRegion>& ahead = t_ahead;
    for (int64_t item = next.fetch_add(1, std::memory_order_relaxed), upcoming; item < items;
         item = upcoming) {
      upcoming = next.fetch_add(1, std::memory_order_relaxed);
      const int64_t q0 = item * per_item, j0 = q0 * nr, j1 = std::min(T, j0 + per_item * nr);
      const int64_t n = j1 - j0;
      GemmTile t;
      t.m = M, t.n = n, t.k = K;
      t.a = a;
      t.b_kstride = nr, t.b_chunk = K * nr;
      if (in_panels && S == 1) {
        t.b = in + q0 * K * nr;
      } else if (in_panels) {
        // Stride 2: gather the columns into a local panel, zeros past the last one.
        float* panel = t_panel.get(per_item * K * nr);
        for (int64_t q = 0; q < ceil_div(n, nr); ++q) {
          int64_t off[64];
          DICE_ASSERT(nr <= 64);
          const int64_t lanes = std::min(nr, n - q * nr);
          for (int64_t l = 0; l < lanes; ++l) off[l] = panel_at(source_col(j0 + q * nr + l));
          float* d = panel + q * K * nr;
          for (int64_t c = 0; c < K; ++c, d += nr) {
            const float* s = in + c * nr;
            for (int64_t l = 0; l < lanes; ++l) d[l] = s[off[l]];
            for (int64_t l = lanes; l < nr; ++l) d[l] = 0.0f;
          }
        }
        t.b = panel;
      } else {
        // NCHW input: pack each image's run of columns (conv2d_cpu's rows mode across images).
        float* panel = t_panel.get(per_item * K * nr);
        for_each_image_run(j0, j1, N, [&](int64_t img, int64_t pix, int64_t len, int64_t j) {
          PackRows pr;
          pr.src = in + img * K * HW, pr.plane = HW, pr.k = K, pr.n0 = pix, pr.n = len;
          pr.d0 = j - j0, pr.dst = panel;
          isa.pack_rows(pr);
        });
        t.b = panel;
      }
      if (out_panels) {
        t.c = out + q0 * M * nr, t.ldc = nr, t.c_chunk = M * nr;
        if (f.residual) t.res = f.residual + q0 * M * nr, t.ldr = nr, t.r_chunk = M * nr;
      } else {
        segs.clear();
        for_each_image_run(j0, j1, N, [&](int64_t img, int64_t pix, int64_t, int64_t j) {
          GemmSeg sg;
          sg.col = j - j0;
          sg.c = out + img * M * N + pix;
          sg.res = f.residual ? f.residual + img * M * N + pix : nullptr;
          segs.push_back(sg);
        });
        t.segs = segs.data(), t.nsegs = static_cast<int64_t>(segs.size());
        t.ldc = N, t.res = f.residual, t.ldr = N;
      }
      t.alpha = al, t.beta = be, t.relu = f.out_relu;
      ahead.clear();
      if (upcoming < items) sources(upcoming, &ahead);
      t.pf_src = ahead.data(), t.n_pf_src = static_cast<int64_t>(ahead.size());
      isa.gemm(t);
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
  DICE_ASSERT(batch > 0 && channels > 0 && hw > 0 && cpu_panels_fit(batch, hw));
  const int64_t nr = cpu_panel_width();
  // global_avg_pool_cpu's order per channel: four running sums (pixel i into sum i % 4, the last
  // hw % 4 pixels into sum 0), each in pixel order, then (s0 + s1) + (s2 + s3). Here the image's
  // panels are read in memory order, which visits each channel's pixels in that same order.
  const int64_t body = hw - hw % 4;
  parallel_for(batch, [&](int64_t begin, int64_t end) {
    std::vector<double> sum(static_cast<size_t>(channels * 4));
    for (int64_t n = begin; n < end; ++n) {
      std::fill(sum.begin(), sum.end(), 0.0);
      for (int64_t col = n * hw; col < (n + 1) * hw;) {
        const int64_t q = col / nr, lane0 = col % nr, lanes = std::min(nr - lane0, (n + 1) * hw - col);
        const float* chunk = in + q * channels * nr + lane0;
        const int64_t i0 = col - n * hw;  // the image's pixel in lane lane0
        int64_t c = 0;
        for (; c + 4 <= channels; c += 4) add_lanes<4>(chunk + c * nr, nr, lanes, i0, body, &sum[c * 4]);
        for (; c < channels; ++c) add_lanes<1>(chunk + c * nr, nr, lanes, i0, body, &sum[c * 4]);
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

void nchw_image_to_panels(const float* src, int64_t image, int64_t channels, int64_t pixels,
                          float* panels) {
  const int64_t nr = cpu_panel_width();
  // Run by run of the image's columns within one panel: each channel's run is contiguous on
  // both sides.
  for (int64_t x = 0; x < pixels;) {
    const int64_t col = image * pixels + x, lane = col % nr, len = std::min(nr - lane, pixels - x);
    float* d = panels + col / nr * channels * nr + lane;
    for (int64_t c = 0; c < channels; ++c)
      std::copy(src + c * pixels + x, src + c * pixels + x + len, d + c * nr);
    x += len;
  }
}

void panels_to_nchw(const float* panels, int64_t batch, int64_t channels, int64_t pixels,
                    float* dst) {
  const int64_t nr = cpu_panel_width();
  for (int64_t col = 0; col < batch * pixels; ++col)
    for (int64_t c = 0; c < channels; ++c)
      dst[(col / pixels * channels + c) * pixels + col % pixels] =
          panels[(col / nr * channels + c) * nr + col % nr];
}

}  // namespace dice
