// Winograd's minimal filtering F(m x m, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional
// Neural Networks", 2016) for 3x3, stride 1, pad 1 convolutions on the CPU, with output tiles of
// m = 2 (F(2x2, 3x3): 4x4 transforms) or m = 4 (F(4x4, 3x3): 6x6 transforms); conv2d_cpu picks
// per layer (conv2d_winograd_tile, DICE_CPU_CONV in conv2d.h).
//
// Each m x m block of output pixels ("tile") is Y = A^T [ sum_c U_c (.) V_c ] A, with U = G g G^T
// the t x t transform (t = m + 2) of a 3x3 filter (done once per plan, in double) and V = B^T d B
// that of the tile's t x t input patch d. Spelled out per position xi = (r,s) of the transform,
// that is t*t independent GEMMs M_xi[o][tile] = sum_c U_xi[o][c] V_xi[c][tile]: per output pixel
// and input channel 4 multiply-adds (m = 2) or 2.25 (m = 4) instead of 9, on the same
// register-blocked micro-kernel as the direct path (gemm_kernels.inc), plus two transforms.
//
// The columns are the tiles of the whole batch, image after image, so small maps (ResNet-50's 7x7
// stage has 16 tiles per image) still fill whole micro-tiles. The input is first copied
// zero-bordered for the whole batch with the prologue applied (as conv2d_cpu's batch mode does),
// rows and columns rounded up to whole tiles with zeros, so every patch reads zeros past the map;
// work items are groups of columns, handed out dynamically, each: input transform into t*t panels
// (one channel block at a time), t*t GEMM tiles accumulating into t*t scratch tiles, the output
// transform with the epilogue into a staging tile, and a scatter of each tile into the NCHW
// output (which may be a channel slice, as DenseNet's layers write).
//
// At stride 2 (3x3/2, pad 1; by default ResNet-50's layer2.0 and layer3.0 3x3s) the same
// machinery runs F(2x2, 3x3) in a 5x5 form (wino2s_* in gemm_kernels.inc): per axis a 2-output
// tile reads 5 inputs, and splits into F(2,2) over the even ones (taps w0, w2) plus the odd ones
// times w1, so t = 5, tiles step 4 padded pixels, 25 GEMMs (16 distinct filter matrices) per 2x2
// outputs: 6.25 multiply-adds per output and input channel instead of 9. Measured (2 EPYC cores,
// `dice features --profile` per-step minima, 4 and 12 alternations against the direct path):
// batch 32, layer2.0.conv2 49.5 -> 41.1 ms, layer3.0.conv2 37.9 -> 32.0; batch 1, layer2.0.conv2
// 1.48 -> 1.35, layer3.0.conv2 even; on a 2-core Xeon (Ice Lake, two 512-bit FMA units per core)
// conv_bench, best of 10/200, two alternations: batch 32 44.6 -> 32.6 and 43.9 -> 27.4-33.3 ms,
// batch 1 1.26 -> 1.10 and 1.57 -> 1.12. layer4.0's (7x7 outputs, 16 tiles per image, transposed:
// its 16.8 MB of filter matrices stream once per group of 64 tiles) is left to the direct path:
// on the Xeon it loses both ways (network, per-step minima, alternating: batch 1 1.67 -> 2.33 ms
// over 12 rounds, batch 32 36.4 -> 49.8 over 4), while on the EPYC (one 512-bit FMA per cycle,
// so the saved products weigh twice as much) it won batch 1 (1.74 -> 1.28) and was even at batch
// 32. The rule looks at neither the batch nor the CPU model (one rule on every machine):
// kS2MinTiles = 49.
//
// Rounding differs from the direct sum (the transforms add and subtract inputs before the
// products; F(4x4) scales some by up to 8), bounded against conv2d_naive by
// tests/kernels/conv2d_test.cpp and conv2d_winograd_test.cpp, and against PyTorch's ResNet logits
// by tests/nn/resnet_test.cpp.
#include <algorithm>
#include <atomic>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"
#include "kernels/conv2d.h"
#include "kernels/conv2d_cpu_util.h"
#include "kernels/conv2d_winograd.h"
#include "kernels/gemm_cpu.h"

namespace dice {
namespace {

thread_local AlignedBuf<float> t_padded, t_panel, t_scratch, t_stage;
thread_local AlignedBuf<int32_t> t_idx;

// Budgets (floats) per work item: the t*t scratch tiles (M x columns each) and the t*t input
// panels (channel block x columns each) together stay within a core's 2 MB L2.
constexpr int64_t kScratchFloats = 128 * 1024;
constexpr int64_t kPanelFloats = 128 * 1024;
// Floats (one 64-byte line) added to the distance between consecutive transform positions' panels
// and results. Without it those distances are multiples of 4 KiB (64 channels x 32 tiles x 4
// bytes = 8 KiB), so the input transform's T*T stores per channel, the output transform's T*T
// loads per vector and the transposes all fall into one set of the 32 KiB 8-way L1 (64 sets of
// 64 bytes: addresses 4 KiB apart share a set) and evict each other. Measured (2 EPYC cores, best
// of 300 or 20, alternating): 64->64 56x56 batch 1, one thread 0.93 -> 0.86 ms; 128->128 28x28
// 0.92 -> 0.87; 256->256 14x14 batch 32 (transposed) 17.0 -> 14.5-16.0; 128->128 56x56/2 2.04 ->
// 1.97.
constexpr int64_t kSkew = 16;

}  // namespace

namespace {
// The zero-bordered copy of one image for tiles of m: (ceil(H/m)*m + 2) x (ceil(W/m)*m + 2) at
// stride 1; at stride 2 (m = 2), tile (ty, tx) reads the padded rows and columns 4ty..4ty+4 and
// 4tx..4tx+4, so 4*ceil(Ho/2) + 1 of each (or the map and its border, if more).
struct WinoLayout {
  int64_t wp, plane;
  WinoLayout(const Conv2dParams& p, int m) {
    if (p.stride == 1) {
      wp = round_up(p.width, m) + 2, plane = (round_up(p.height, m) + 2) * wp;
    } else {
      wp = std::max(4 * ceil_div(p.out_width(), 2) + 1, p.width + 2);
      plane = std::max(4 * ceil_div(p.out_height(), 2) + 1, p.height + 2) * wp;
    }
  }
};
}  // namespace

bool conv2d_winograd_shape(const Conv2dParams& p) {
  if (p.kernel != 3 || p.pad != 1 || (p.stride != 1 && p.stride != 2)) return false;
  const WinoLayout l(p, p.stride == 1 ? 4 : 2);  // the larger layout at stride 1
  // Column offsets (image, tile) and the channel offsets within an image are int32.
  return (p.batch * p.in_channels + 1) * l.plane + 16 < (int64_t{1} << 31);
}

// Measured with bench_kernels_cpu and `dice features --profile` (Xeon, 2 cores, AVX-512), direct
// -> Winograd: ResNet-50 batch 8, layer1..4 3x3: 5.22 -> 4.14, 4.90 -> 3.10, 4.94 -> 3.02,
// 5.26 -> 3.56 ms; batch 1: layer3 (49 tiles) 0.78 -> 0.78, layer4 (16 tiles) 1.2 -> 3.1 ms;
// DenseNet-BC 3x3 48->12 at batch 128: 4.29 -> 6.06 ms. The rule looks at one image, not the
// batch, so an image's features do not depend on the batch it came in. Since the transposed
// orientation (conv2d_winograd_transposed), 16 tiles suffice: ResNet-50's layer4 3x3s (7x7) run
// F(2x2) transposed (2 EPYC cores, `--profile`, both convs, four alternations): batch 1, F(4x4)
// 3.7-4.4 -> F(2x2) 2.1-2.9 ms (F(4x4)'s 37.7 MB of filters per conv stream from DRAM, F(2x2)'s
// 16.8; direct was 2 x 1.4-1.5); batch 32, 32-39 -> 45-62 ms (direct 76-84).
bool conv2d_winograd_pays(const Conv2dParams& p) {
  const int64_t tiles = ((p.height + 1) / 2) * ((p.width + 1) / 2);
  return p.out_channels >= 32 && tiles >= 16;
}

bool conv2d_winograd4_pays(const Conv2dParams& p) {
  const int64_t covered = ceil_div(p.height, 4) * 4 * ceil_div(p.width, 4) * 4;
  return p.out_channels >= 32 && ceil_div(p.height, 4) * ceil_div(p.width, 4) >= 16 &&
         covered * 100 <= p.height * p.width * 135;
}

// F(2x2, 3x3) at stride 2 from this many 2x2 output tiles per image (see the header).
constexpr int64_t kS2MinTiles = 49;

bool conv2d_winograd_s2_pays(const Conv2dParams& p) {
  return p.stride == 2 && p.out_channels >= 32 &&
         ceil_div(p.out_height(), 2) * ceil_div(p.out_width(), 2) >= kS2MinTiles;
}

int conv2d_winograd_tile(const Conv2dParams& p, bool residual) {
  if (residual || !conv2d_winograd_shape(p)) return 0;
  const bool s2 = p.stride == 2;  // F(2x2) only
  switch (cpu_conv_algo()) {
    case CpuConvAlgo::kDirect:
      return 0;
    case CpuConvAlgo::kWinograd:
      if (s2) return conv2d_winograd_s2_pays(p) ? 2 : 0;
      return conv2d_winograd4_pays(p) ? 4 : conv2d_winograd_pays(p) ? 2 : 0;
    case CpuConvAlgo::kWinogradAll:
      return 2;
    case CpuConvAlgo::kWinograd4All:
      return s2 ? 0 : 4;
  }
  return 0;
}

namespace {
// The side t of the transforms for output tiles of m at `stride`: m + 2 at stride 1, 5 at stride 2
// (m = 2 there).
int transform_side(int m, int64_t stride) { return stride == 2 ? 5 : m + 2; }
}  // namespace

namespace {
// U = G g G^T of one 3x3 filter g for F(m x m, 3x3) (stride 2: F(2x2, 3x3) at stride 2, see
// wino2s_bt in gemm_kernels.inc), in double, then rounded once: u[r * t + s].
void filter_transform(const float* g, int m, int64_t stride, float* u) {
  // F(2x2): G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
  static const double G2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  // F(4x4), points 0, 1, -1, 2, -2, infinity (the B^T and A^T of gemm_kernels.inc)
  static const double G4[6][3] = {{0.25, 0, 0},
                                  {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                  {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                  {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                  {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                  {0, 0, 1}};
  // F(2x2, 3x3) at stride 2: (w0, w0 + w2, w2, w1, w1)
  static const double G2s[5][3] = {{1, 0, 0}, {1, 0, 1}, {0, 0, 1}, {0, 1, 0}, {0, 1, 0}};
  const int t = transform_side(m, stride);
  auto G = [&](int r, int j) { return stride == 2 ? G2s[r][j] : m == 2 ? G2[r][j] : G4[r][j]; };
  double gg[6][3];  // G g
  for (int r = 0; r < t; ++r)
    for (int j = 0; j < 3; ++j)
      gg[r][j] = G(r, 0) * g[0 * 3 + j] + G(r, 1) * g[1 * 3 + j] + G(r, 2) * g[2 * 3 + j];
  for (int r = 0; r < t; ++r)
    for (int s = 0; s < t; ++s)
      u[r * t + s] = static_cast<float>(gg[r][0] * G(s, 0) + gg[r][1] * G(s, 1) + gg[r][2] * G(s, 2));
}
}  // namespace

namespace {
// Which packed filter matrix transform position xi (of t*t) uses. At stride 2 the last two rows
// of G are equal (both w1), so U(r, s) = U(min(r, 3), min(s, 3)): 16 distinct matrices of 25,
// packed once each (36% fewer filter bytes to stream).
int64_t filter_slot(int64_t stride, int64_t xi) {
  return stride == 2 ? std::min<int64_t>(xi / 5, 3) * 4 + std::min<int64_t>(xi % 5, 3) : xi;
}
int64_t filter_slots(int64_t stride, int64_t t) { return stride == 2 ? 16 : t * t; }
}  // namespace

bool conv2d_winograd_transposed(const Conv2dParams& p, int m, int nr) {
  return ceil_div(p.out_height(), m) * ceil_div(p.out_width(), m) < nr;
}

// Each U(o, c) is written straight to its place in the layout, so no unpacked copy is made:
// rows (pack_weights' layout of matrix xi: row block of o, [C][rows] from r0 * C), or transposed
// (B panels of U_xi^T: [ceil(M/nr)][C][nr], output channels along the lanes, zero past M).
std::vector<float> conv2d_winograd_pack(const Conv2dParams& p, const float* weight,
                                        const GemmIsa& isa, int m, bool transposed) {
  DICE_ASSERT(p.kernel == 3 && (m == 2 || (m == 4 && p.stride == 1)));
  const int64_t t = transform_side(m, p.stride), M = p.out_channels, C = p.in_channels, kXi = t * t;
  const int64_t slots = filter_slots(p.stride, t);
  float u[36];
  if (transposed) {
    const int64_t nr = isa.nr, mat = round_up(M, nr) * C;
    std::vector<float> ut(static_cast<size_t>(slots * mat), 0.0f);
    for (int64_t o = 0; o < M; ++o)
      for (int64_t c = 0; c < C; ++c) {
        filter_transform(weight + (o * C + c) * 9, m, p.stride, u);
        for (int64_t xi = 0; xi < kXi; ++xi)
          ut[static_cast<size_t>(filter_slot(p.stride, xi) * mat + (o / nr * C + c) * nr +
                                 o % nr)] = u[xi];
      }
    return ut;
  }
  const int64_t blocks = gemm_row_blocks(M, isa.mr);
  std::vector<float> out(static_cast<size_t>(slots * M * C));
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t r0 = gemm_row_block_start(M, blocks, b);
    const int64_t rows = gemm_row_block_start(M, blocks, b + 1) - r0;
    for (int64_t o = r0; o < r0 + rows; ++o)
      for (int64_t c = 0; c < C; ++c) {
        filter_transform(weight + (o * C + c) * 9, m, p.stride, u);
        for (int64_t xi = 0; xi < kXi; ++xi)
          out[static_cast<size_t>(filter_slot(p.stride, xi) * M * C + r0 * C + c * rows +
                                  (o - r0))] = u[xi];
      }
  }
  return out;
}

namespace {
// The sizes of one call that both orientations derive from the shape, and the ISA's kernels for m
// (and the stride). H, W, N: the output map; a tile's t x t input patch starts `step` padded
// pixels after the previous tile's.
struct WinoGeom {
  int64_t M, C, H, W, nr, N, out_st, stride, t, step, kXi, mm, th, tw, per_img, T, wp, plane,
      img_floats;
  void (*input)(const WinoInput&);
  void (*output)(const WinoOutput&);
  void (*scatter)(const WinoScatter&);
  WinoGeom(const Conv2dParams& p, const GemmIsa& isa, int m) {
    M = p.out_channels, C = p.in_channels, H = p.out_height(), W = p.out_width();
    nr = isa.nr, N = H * W, out_st = p.out_stride();
    stride = p.stride;
    const bool s2 = stride == 2;
    t = transform_side(m, stride), step = m * stride, kXi = t * t, mm = m * m;
    th = ceil_div(H, m), tw = ceil_div(W, m), per_img = th * tw, T = p.batch * per_img;
    const WinoLayout wl(p, m);
    wp = wl.wp, plane = wl.plane, img_floats = C * plane;
    input = s2 ? isa.wino2s_input : m == 2 ? isa.wino_input : isa.wino4_input;
    output = s2 ? isa.wino2s_output : m == 2 ? isa.wino_output : isa.wino4_output;
    scatter = m == 2 ? isa.wino_scatter : isa.wino4_scatter;
  }
  // Where tile t of an image starts in its padded copy.
  int64_t origin(int64_t tile) const { return tile / tw * step * wp + tile % tw * step; }
};

// The scatter's runs for tiles [c0, c0 + n) of the batch: each run the tiles along one tile row
// of one image, m x m pixels per tile, into `out` (the output's first channel to write).
void tile_runs(const WinoGeom& g, int m, int64_t c0, int64_t n, float* out,
               std::vector<WinoRun>* runs) {
  runs->clear();
  for (int64_t col = c0; col < c0 + n;) {
    const int64_t img = col / g.per_img, t = col % g.per_img, ty = t / g.tw, tx0 = t % g.tw;
    WinoRun run;
    run.j0 = col - c0;
    run.len = std::min(g.tw - tx0, c0 + n - col);
    run.dst = out + img * g.out_st + m * ty * g.W + m * tx0;
    run.rows = static_cast<int>(std::min<int64_t>(m, g.H - m * ty));
    run.last_cols = static_cast<int>(std::min<int64_t>(m, g.W - m * (tx0 + run.len - 1)));
    runs->push_back(run);
    col += run.len;
  }
}

// The padded input rows that the input transform of tiles [c0, c0 + n) of the batch reads: one
// region per image they touch, its rows the C channels (plane apart), each the tile rows' t rows.
void tile_sources(const WinoGeom& g, const float* padded, int64_t c0, int64_t n,
                  std::vector<GemmRegion>* regions) {
  regions->clear();
  for (int64_t col = c0; col < c0 + n;) {
    const int64_t img = col / g.per_img, last = std::min(c0 + n, (img + 1) * g.per_img) - 1;
    const int64_t ty0 = col % g.per_img / g.tw, ty1 = last % g.per_img / g.tw;
    GemmRegion r;
    r.src = padded + img * g.img_floats + ty0 * g.step * g.wp;
    r.rows = g.C, r.stride = g.plane, r.row_floats = ((ty1 - ty0) * g.step + g.t) * g.wp;
    regions->push_back(r);
    col = last + 1;
  }
}

// Share `part` of `parts` of those regions (a range of their channels) as GEMM tile t's
// prefetch (GemmTile::pf_src), so the next work item's transform finds its input in L2 instead of
// waiting on DRAM: spread over the GEMMs of the current one, each takes a share. Measured (2 EPYC
// cores, batch 32, best of 8, three alternations): 64->64 56x56 20.0-20.5 -> 17.6-17.8 ms,
// 128->128 28x28 15.1-15.7 -> 13.9-14.1.
void prefetch_share(const std::vector<GemmRegion>& regions, int64_t part, int64_t parts,
                    std::vector<GemmRegion>* share, GemmTile* t) {
  share->clear();
  for (GemmRegion r : regions) {
    const int64_t k0 = r.rows * part / parts, k1 = r.rows * (part + 1) / parts;
    r.src += k0 * r.stride, r.rows = k1 - k0;
    if (r.rows > 0) share->push_back(r);
  }
  t->pf_src = share->data(), t->n_pf_src = static_cast<int64_t>(share->size());
}

// The transposed orientation (conv2d_winograd_transposed): maps with fewer tiles per image than a
// micro-tile has columns (ResNet-50's 14x14 and 7x7 stages under F(4x4): 16 and 4 tiles) would
// run most columns empty at batch 1, so each of the t*t GEMMs runs as M_xi^T[tile][o] =
// sum_c V_xi^T[tile][c] U_xi^T[c][o]: tiles are the micro-kernel's broadcast rows (a row block
// holds exactly the tiles there are), output channels its lanes. Per tile group (the whole batch
// up to kGroupTiles tiles): (1) the input transform, split over the threads by input channels,
// into V^T in pack_weights' row-block layout; (2) the output channels in nr-wide chunks split
// over the threads, each running the t*t GEMMs for its chunks (xi outer, so V_xi^T stays in L2
// while U^T streams), then per chunk the results transposed back to [xi][o][tile] and through the
// same output transform, epilogue and scatter as the other orientation. Every sum runs over c in
// the same order with one FMA per term, so the results are bitwise those of the other orientation
// (tested): an image's features do not depend on the orientation, nor on its batch.
// Groups of 64 tiles: a thread's GEMM results (36 x 64 tiles x its channels) stay near L2 for the
// transposes that follow; measured (2 EPYC cores, batch 32, 256 -> 256 14x14, best of 20, five
// alternations) 15.3-17.6 ms against 16.1-19.9 with 128 and 17.5-23.8 with 32.
constexpr int64_t kGroupTiles = 64;
thread_local AlignedBuf<float> t_vt, t_ct;

void run_transposed(const Conv2dParams& p, const float* padded, const float* ut, float* out,
                    const std::vector<float>& alpha, const std::vector<float>& beta, bool relu,
                    const GemmIsa& isa, int m, int64_t threads) {
  const WinoGeom geo(p, isa, m);
  // Plain locals: the lambdas below capture them (C++17 cannot capture structured bindings).
  const int64_t M = geo.M, C = geo.C, W = geo.W, nr = geo.nr, N = geo.N, T = geo.T;
  const int64_t kXi = geo.kXi, mm = geo.mm, wp = geo.wp;
  const int64_t per_img = geo.per_img, plane = geo.plane, img_floats = geo.img_floats;
  const int64_t chunks = ceil_div(M, nr), mat = chunks * nr * C;  // one U_xi^T
  const int64_t groups = ceil_div(T, kGroupTiles);
  const float* al = alpha.empty() ? nullptr : alpha.data();
  const float* be = beta.empty() ? nullptr : beta.data();

  for (int64_t g = 0; g < groups; ++g) {
    const int64_t c0 = T * g / groups, G = T * (g + 1) / groups - c0;  // tiles [c0, c0 + G)
    const int64_t nt = round_up(G, nr), tchunks = nt / nr;
    // V_xi^T: the input transform's own panels, [xi][tile chunk][C][nr], read by the GEMM as A
    // panels (GemmTile::a_kstride), one call per tile chunk.
    const int64_t vt_xi = C * nt + kSkew;  // one V_xi^T
    float* vt = t_vt.get(kXi * vt_xi);
    // (1) Input transform: thread w takes tile chunks [tchunks w / n, tchunks (w + 1) / n); a
    // group of one chunk (batch 1) is split by input channels instead ([xi][C][nr] is then one
    // run per xi, so a channel range is a contiguous part of it).
    const int64_t csplit = tchunks == 1 ? std::min(threads, std::max<int64_t>(1, C / 64)) : 1;
    const int64_t in_workers = tchunks == 1 ? csplit : std::min(threads, tchunks);
    parallel_for(in_workers, [&](int64_t w0, int64_t w1) {
      for (int64_t w = w0; w < w1; ++w) {
        const int64_t q0 = csplit > 1 ? 0 : tchunks * w / in_workers;
        const int64_t q1 = csplit > 1 ? 1 : tchunks * (w + 1) / in_workers;
        const int64_t k0 = csplit > 1 ? C * w / csplit : 0;
        const int64_t k1 = csplit > 1 ? C * (w + 1) / csplit : C;
        const int64_t j0 = q0 * nr, n = std::min(G, q1 * nr) - j0;
        int32_t* idx = t_idx.get((q1 - q0) * nr);
        for (int64_t j = 0; j < (q1 - q0) * nr; ++j) {
          const int64_t col = c0 + j0 + std::min(j, n - 1);  // tail columns repeat the last tile
          const int64_t img = col / per_img, t = col % per_img;
          idx[j] = static_cast<int32_t>(img * img_floats + geo.origin(t));
        }
        WinoInput wi;
        wi.src = padded, wi.idx = idx, wi.plane = plane, wi.wp = wp;
        wi.c0 = k0, wi.k = k1 - k0, wi.n = n, wi.xi_stride = vt_xi;
        wi.dst = vt + q0 * C * nr + k0 * nr;
        geo.input(wi);
      }
    });
    // (2) Output channels: thread w takes chunks [chunks w / n, chunks (w + 1) / n).
    const int64_t out_workers = std::min(threads, chunks);
    const int64_t ld = round_up(G, 16);  // tiles per row of the output transform's input
    parallel_for(out_workers, [&](int64_t w0, int64_t w1) {
      std::vector<WinoRun> runs;
      for (int64_t w = w0; w < w1; ++w) {
        const int64_t q0 = chunks * w / out_workers, q1 = chunks * (w + 1) / out_workers;
        const int64_t ct_xi = G * nr + kSkew;
        float* ct = t_ct.get((q1 - q0) * kXi * ct_xi);  // [chunk][xi][tile][nr]
        for (int64_t xi = 0; xi < kXi; ++xi)
          for (int64_t q = q0; q < q1; ++q)
            for (int64_t tq = 0; tq < tchunks; ++tq) {
              GemmTile t;
              t.m = std::min(nr, G - tq * nr), t.n = std::min(nr, M - q * nr), t.k = C;
              t.a = vt + xi * vt_xi + tq * C * nr, t.a_kstride = nr;
              t.b = ut + filter_slot(geo.stride, xi) * mat + q * C * nr, t.b_kstride = nr;
              t.b_chunk = C * nr;
              t.c = ct + ((q - q0) * kXi + xi) * ct_xi + tq * nr * nr, t.ldc = nr;
              isa.gemm(t);
            }
        const int64_t cs_xi = nr * ld + kSkew;
        float* cs = t_scratch.get(kXi * cs_xi + 16);  // [xi][o][tile]
        float* stage = t_stage.get(mm * nr * ld + 16);
        for (int64_t q = q0; q < q1; ++q) {
          const int64_t o0 = q * nr, cn = std::min(nr, M - o0);
          const float* src = ct + (q - q0) * kXi * ct_xi;
          for (int64_t xi = 0; xi < kXi; ++xi) {
            Transpose tr;
            tr.src = src + xi * ct_xi, tr.lds = nr, tr.rows = G, tr.cols = cn;
            tr.dst = cs + xi * cs_xi, tr.ldd = ld;
            isa.transpose(tr);
          }
          WinoOutput wo;
          wo.src = cs, wo.ld = ld, wo.xi_stride = cs_xi, wo.r0 = 0, wo.r1 = cn, wo.n = G;
          wo.alpha = al ? al + o0 : nullptr, wo.beta = be ? be + o0 : nullptr;
          wo.relu = relu, wo.dst = stage, wo.ldd = ld;
          geo.output(wo);
          tile_runs(geo, m, c0, G, out + o0 * N, &runs);
          WinoScatter ws;
          ws.src = stage, ws.ld = ld, ws.r0 = 0, ws.r1 = cn, ws.row = W, ws.chan = N;
          ws.runs = runs.data(), ws.nruns = static_cast<int64_t>(runs.size());
          geo.scatter(ws);
        }
      }
    });
  }
}
}  // namespace

void conv2d_winograd_cpu(const Conv2dParams& p, const float* in, const float* u, float* out,
                         const ConvFusion& f, const GemmIsa& isa, int m, bool transposed) {
  DICE_ASSERT(conv2d_winograd_shape(p) && f.residual == nullptr &&
              (m == 2 || (m == 4 && p.stride == 1)));
  const WinoGeom geo(p, isa, m);
  // Plain locals: the lambdas below capture them (C++17 cannot capture structured bindings).
  const int64_t M = geo.M, C = geo.C, W = geo.W, nr = geo.nr, N = geo.N, T = geo.T;
  const int64_t kXi = geo.kXi, mm = geo.mm, wp = geo.wp;
  const int64_t per_img = geo.per_img, plane = geo.plane, img_floats = geo.img_floats;
  void (*const wino_input)(const WinoInput&) = geo.input;
  void (*const wino_output)(const WinoOutput&) = geo.output;
  void (*const wino_scatter)(const WinoScatter&) = geo.scatter;
  int64_t threads = num_threads();
  if (p.flops() < kMinParallelConvFlops) threads = 1;

  std::vector<float> alpha, beta;
  fold_epilogue(f, M, &alpha, &beta);

  // The zero-bordered batch, rounded up to whole tiles with zeros (WinoLayout): the last tiles of
  // a map that m does not divide read only zeros past it, and feed outputs that are dropped.
  PaddedLayout lay;
  lay.wp = wp, lay.plane = plane, lay.slack = 16;
  const float* padded = pad_batch(p, in, f, isa, lay, threads, &t_padded);
  if (transposed) {
    run_transposed(p, padded, u, out, alpha, beta, f.out_relu, isa, m, threads);
    return;
  }

  // Output-channel slices: when the columns are too few to give every thread two groups
  // (ResNet-50's layer3 at batch 1: 49 tiles), each thread takes a slice of the output channels
  // for the group instead, so the 16 transformed filter matrices are streamed once in all rather
  // than once per thread. (Each slice transforms the group's input itself: cheap at that size.)
  const int64_t blocks = gemm_row_blocks(M, isa.mr);
  const int64_t mslices =
      threads > 1 && ceil_div(T, nr) < 2 * threads && blocks >= 2 * threads ? threads : 1;
  const int64_t m_slice = ceil_div(M, mslices);
  // Column groups: as wide as the scratch budget allows (for one slice of rows), at least two per
  // thread when the batch has the columns; channel blocks as deep as the panel budget allows.
  const int64_t cap = std::max(nr, kScratchFloats / (kXi * m_slice) / nr * nr);
  int64_t groups = std::max(ceil_div(T, cap), mslices > 1 ? 1 : std::min(2 * threads, ceil_div(T, nr)));
  // Few groups: a count the threads divide evenly.
  if (mslices == 1 && groups < 8 * threads && groups % threads != 0)
    groups = std::min(round_up(groups, threads), ceil_div(T, nr));
  const int64_t nt = round_up(ceil_div(T, groups), nr);
  groups = ceil_div(T, nt);
  const int64_t items = groups * mslices;
  const int64_t kblocks = ceil_div(C, std::max<int64_t>(8, kPanelFloats / (kXi * nt)));
  const int64_t cb_max = ceil_div(C, kblocks);

  std::atomic<int64_t> next{0};
  parallel_for(std::min(threads, items), [&](int64_t, int64_t) {
    int32_t* idx = t_idx.get(nt);
    // Per transform position: its panel (a channel block x the columns) and its GEMM results.
    const int64_t panel_xi = cb_max * nt + kSkew, scratch_xi = M * nt + kSkew;
    float* panel = t_panel.get(kXi * panel_xi);
    float* scratch = t_scratch.get(kXi * scratch_xi);
    float* stage = t_stage.get(mm * M * nt);
    std::vector<WinoRun> runs;
    std::vector<GemmRegion> ahead, share;
    // Each thread claims its next item before it runs the current one, to prefetch its input.
    for (int64_t item = next.fetch_add(1, std::memory_order_relaxed), upcoming; item < items;
         item = upcoming) {
      upcoming = next.fetch_add(1, std::memory_order_relaxed);
      ahead.clear();
      if (upcoming < items) {
        const int64_t uc0 = upcoming / mslices * nt;
        tile_sources(geo, padded, uc0, std::min(nt, T - uc0), &ahead);
      }
      const int64_t g = item / mslices, s = item % mslices;
      const int64_t rb0 = blocks * s / mslices, rb1 = blocks * (s + 1) / mslices;
      const int64_t r0 = gemm_row_block_start(M, blocks, rb0), r1 = gemm_row_block_start(M, blocks, rb1);
      const int64_t c0 = g * nt, n = std::min(nt, T - c0);
      for (int64_t j = 0; j < nt; ++j) {
        const int64_t col = c0 + std::min(j, n - 1);  // tail columns repeat the last tile
        const int64_t img = col / per_img, t = col % per_img;
        idx[j] = static_cast<int32_t>(img * img_floats + geo.origin(t));
      }
      for (int64_t kb = 0; kb < kblocks; ++kb) {
        const int64_t k0 = C * kb / kblocks, k1 = C * (kb + 1) / kblocks, cb = k1 - k0;
        WinoInput wi;
        wi.src = padded, wi.idx = idx, wi.plane = plane, wi.wp = wp;
        wi.c0 = k0, wi.k = cb, wi.n = n, wi.xi_stride = panel_xi, wi.dst = panel;
        wino_input(wi);
        for (int xi = 0; xi < kXi; ++xi) {
          GemmTile t;
          prefetch_share(ahead, kb * kXi + xi, kblocks * kXi, &share, &t);
          t.m = M, t.n = n, t.k = cb;
          t.rb_begin = rb0, t.rb_end = rb1;
          t.a = u + filter_slot(geo.stride, xi) * M * C, t.a_k_total = C, t.a_k0 = k0;
          t.accumulate = kb > 0;
          t.b = panel + xi * panel_xi, t.b_kstride = nr, t.b_chunk = cb * nr;
          t.c = scratch + xi * scratch_xi, t.ldc = nt;
          isa.gemm(t);
        }
      }
      WinoOutput wo;
      wo.src = scratch, wo.ld = nt, wo.xi_stride = scratch_xi, wo.r0 = r0, wo.r1 = r1, wo.n = n;
      wo.alpha = alpha.empty() ? nullptr : alpha.data();
      wo.beta = beta.empty() ? nullptr : beta.data();
      wo.relu = f.out_relu, wo.dst = stage, wo.ldd = nt;
      wino_output(wo);
      // Scatter: each run of tiles along one tile row of one image, m x m pixels per tile.
      tile_runs(geo, m, c0, n, out, &runs);
      WinoScatter ws;
      ws.src = stage, ws.ld = nt, ws.r0 = r0, ws.r1 = r1, ws.row = W, ws.chan = N;
      ws.runs = runs.data(), ws.nruns = static_cast<int64_t>(runs.size());
      wino_scatter(ws);
    }
  });
}

}  // namespace dice
