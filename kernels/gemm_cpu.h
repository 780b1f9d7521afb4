// CPU GEMM machinery behind conv2d_cpu: the per-instruction-set kernel table and its selection.
//
// The hot loops (register-blocked micro-kernel, input packing with the BN+ReLU prologue, the
// epilogue) are written once in gemm_kernels.inc over a tiny vector abstraction and compiled three
// times: gemm_avx512.cpp (-mavx512f...), gemm_avx2.cpp (-mavx2 -mfma) and gemm_scalar.cpp (no
// flags). cpu_isa() picks the best one the running CPU supports, so one binary runs on any x86-64.
// DICE_CPU_ISA=scalar|avx2|avx512 in the environment (or force_cpu_isa) caps the choice, for tests
// and comparisons.
//
// Only plain structs and function declarations live here: this header is included by the
// per-ISA translation units, and an inline function defined here could be emitted with AVX-512
// instructions there and then be picked by the linker for the scalar path.
#pragma once
#include <cstdint>

namespace dice {

enum class CpuIsa { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

// One GEMM tile: C[m x n] (op)= A[m x k] * B[k x n], where
//   A is packed in row blocks (see pack_weights): block b covers rows [r_b, r_{b+1}) and is stored
//     at a + r_b * k as [k][rows_b], so a micro-kernel broadcasts one contiguous run per k;
//   B column j (within n-chunk q = j / nr) of row kk lives at
//     b + q * b_chunk + (b_off ? b_off[kk] : kk * b_kstride) + j % nr,
//     and is always readable for whole chunks (callers pad B so tail chunks never fault);
//   C row i, column j is c[i * ldc + j]; only the n valid columns are written.
// Epilogue per element, when alpha is set: y = acc * alpha[i] + beta[i]; then y += res[i*ldr + j]
// when res is set; then y = max(y, 0) when relu. Without alpha the raw sum is stored (res and relu
// still apply).
// Splitting K (a caller that packs B one K block at a time): a_k_total > 0 says A was packed for
// a_k_total columns and this call uses its columns [a_k0, a_k0 + k); accumulate adds the products
// to what C holds instead of overwriting it. The epilogue is then the caller's to apply.
// Row blocks: the tile covers blocks [rb_begin, rb_end) of m's partition (gemm_row_blocks; -1:
// to the last), so callers that split the output channels between threads keep the packing's
// blocks.
// One segment of a tile's columns that belong to one output (see GemmTile::segs).
struct GemmSeg {
  int64_t col = 0;             // first column of the tile in this segment
  float* c = nullptr;          // where that column's row 0 goes (rows ldc apart)
  const float* res = nullptr;  // its residual (rows ldr apart), when the tile has one
};

// A strided region of memory: `rows` runs of `row_floats` floats, `stride` floats apart (the
// channel rows of an image that a caller packs into its next B panel).
struct GemmRegion {
  const float* src = nullptr;
  int64_t rows = 0, row_floats = 0, stride = 0;
};

// Columns spread over several outputs (conv2d_cpu's rows mode across the images of a batch): with
// segs set, the tile's columns are nsegs segments in order, segment s covering columns
// [segs[s].col, segs[s+1].col) (the last one to n), written to segs[s].c with residual
// segs[s].res (a segment with c null is dropped: computed, never stored); c and res are then
// unused, and res is only a flag (non-null: add the residual).
// A micro-tile whose columns span two segments is computed into a local buffer and copied out.
// Not with accumulate.
struct GemmTile {
  int64_t m = 0, n = 0, k = 0;
  const GemmSeg* segs = nullptr;
  int64_t nsegs = 0;
  int64_t rb_begin = 0, rb_end = -1;
  int64_t a_k_total = 0, a_k0 = 0;
  bool accumulate = false;
  const float* a = nullptr;
  // 0: A in pack_weights' row blocks (above). Else A is one panel [k][a_kstride] holding the m
  // rows side by side (row i of step kk at a[kk * a_kstride + i]; a_k0 steps in), as B panels
  // are laid out: conv2d_winograd's transposed orientation reads its input transform's panels so.
  int64_t a_kstride = 0;
  const float* b = nullptr;
  const int32_t* b_off = nullptr;
  int64_t b_kstride = 0, b_chunk = 0;
  // Optional: a region (the next call's B panel) to prefetch into L2 while this tile runs, one
  // 64-byte line per k step of chunk 0's first micro-tiles, in place of the A prefetch (for
  // callers that run one chunk per call: conv2d_cpu's rows-t mode).
  const float* b_next = nullptr;
  int64_t b_next_floats = 0;
  // Optional: regions (the source rows of the caller's next panel) prefetched into L2 while this
  // tile runs, their lines spread evenly over the tile's micro-tiles, so the caller's next pack
  // reads from L2 instead of waiting on DRAM.
  const GemmRegion* pf_src = nullptr;
  int64_t n_pf_src = 0;
  float* c = nullptr;
  int64_t ldc = 0;
  // Nonzero: C (and the residual) in panel layout, micro-tile column chunk q starting q * c_chunk
  // (q * r_chunk) floats in, rows ldc (ldr) apart within it (no segments then).
  int64_t c_chunk = 0, r_chunk = 0;
  const float* alpha = nullptr;
  const float* beta = nullptr;
  const float* res = nullptr;
  int64_t ldr = 0;
  bool relu = false;
};

// Packs rows [n0, n0 + n) of a [k rows][plane] layout (channels of an image, stride `plane`) into
// B panels [chunks][k][nr] as panel columns [d0, d0 + n) (the lanes after them in their last
// chunk zero), applying relu(x * scale[kk] + shift[kk]) when scale is set. Several images fill
// one panel by packing them in column order with increasing d0.
struct PackRows {
  const float* src = nullptr;
  int64_t plane = 0, k = 0, n0 = 0, n = 0, d0 = 0;
  const float* scale = nullptr;
  const float* shift = nullptr;
  float* dst = nullptr;
};

// Packs B panels [ceil(n/nr)][k][nr] by gathering: row kk, column j = src[off[kk] + idx[j]].
// idx holds ceil(n/nr)*nr entries (tail entries any in-bounds offset: those columns are never
// stored). With scale set, relu(x * scale[c] + shift[c]) is applied per element, c = (k0 + kk) /
// taps (k0: where this panel starts in the full K, for callers that pack one K block at a time).
struct PackGather {
  const float* src = nullptr;
  const int32_t* off = nullptr;
  const int32_t* idx = nullptr;
  int64_t k = 0, n = 0, taps = 1, k0 = 0;
  int64_t slack = 0;  // floats readable past every src[off[kk] + idx[j]] (3 lets runs be loaded)
  const float* scale = nullptr;
  const float* shift = nullptr;
  float* dst = nullptr;
};

// Copies one height x width plane into a zero-bordered (height+2*pad) x wp plane at dst (rows wp
// floats apart, wp >= width + 2*pad: the columns past the right border are zero too; 0 means
// width + 2*pad), applying relu(x * *scale + *shift) when scale is set, and zeroes dst up to
// `plane` floats.
struct PadPlane {
  const float* src = nullptr;
  int64_t height = 0, width = 0, pad = 0, plane = 0, wp = 0;
  const float* scale = nullptr;
  const float* shift = nullptr;
  float* dst = nullptr;
};

// Winograd F(m x m, 3x3) input transform (see conv2d_winograd_cpu.cpp; m = 2: wino_input, m = 4:
// wino4_input; t = m + 2; at stride 2, wino2s_input: m = 2, t = 5) for k channels from c0: column
// j's t x t input patch of channel c is d(r,s) = src[(c0 + c) * plane + idx[j] + r * wp + s];
// V = B^T d B, and V(r,s) goes to panel
// r*t+s at dst + (r*t+s) * xi_stride, each panel in the B layout [ceil(n/nr)][k][nr] of GemmTile.
// idx is padded like PackGather's.
struct WinoInput {
  const float* src = nullptr;
  const int32_t* idx = nullptr;
  int64_t plane = 0, wp = 0, c0 = 0, k = 0, n = 0, xi_stride = 0;
  float* dst = nullptr;
};

// Winograd F(m x m, 3x3) output transform for rows [r0, r1) of the t*t GEMM results: m(r,s) of row
// o, column j is src[(r*t+s) * xi_stride + o * ld + j]; Y = A^T m A, then y = y * alpha[o] +
// beta[o] (alpha set) and max(y, 0) (relu); Y(dy,dx) goes to dst[(o * m*m + dy*m+dx) * ldd + j],
// j < n.
struct WinoOutput {
  const float* src = nullptr;
  int64_t ld = 0, xi_stride = 0, r0 = 0, r1 = 0, n = 0;
  const float* alpha = nullptr;
  const float* beta = nullptr;
  bool relu = false;
  float* dst = nullptr;
  int64_t ldd = 0;
};

// The last step of a Winograd tile group: output tiles out of the staging area WinoOutput wrote
// (Y(dy,dx) of row o, column j at src[(o * m*m + dy*m+dx) * ld + j]) into NCHW output rows. A run
// is `len` consecutive tiles of one tile row of one image, columns [j0, j0 + len): tile i's m x m
// pixels go to dst + o * chan + dy * row + m * i + dx, for rows o in [r0, r1); only the first
// `rows` pixel rows (fewer than m at the bottom of a map that m does not divide), and only the
// first `last_cols` columns of the run's last tile.
struct WinoRun {
  int64_t j0 = 0, len = 0;
  float* dst = nullptr;
  int rows = 0, last_cols = 0;
};
struct WinoScatter {
  const float* src = nullptr;
  int64_t ld = 0, r0 = 0, r1 = 0, row = 0, chan = 0;
  const WinoRun* runs = nullptr;
  int64_t nruns = 0;
};

// A stride-2 gather (a strided 1x1's input columns, conv2d_cpu_panels and rows-t mode): for each
// of k channels c, row dst + c * ldd (ldd 0: nr, the ISA's panel width) takes, per run, entries
// [d0, d0 + n) from every other float l0, l0 + 2, ... after in + src + c * ld (a row of one input
// panel, or of an NCHW plane); n <= nr / 2 (which a run within one panel cannot exceed); entries
// no run covers are left as they are.
struct GatherRun {
  int64_t src = 0, ld = 0;
  int l0 = 0, d0 = 0, n = 0;
};
struct PanelGather {
  const float* in = nullptr;
  const GatherRun* runs = nullptr;
  int64_t nruns = 0, k = 0;
  float* dst = nullptr;
  int64_t ldd = 0;
};

// Rows of a max pool's input plane and output (GemmIsa::max_pool_3s2): input row r (of h, each w
// floats wide) at x + (r - r0) * ldx, for the rows that the output rows [oy0, oy1) read (a band of
// the plane: ResNet's stem writes its rows band by band, conv2d_maxpool_cpu); output row oy at
// y + (oy - oy0) * ((w + 1) / 2).
struct MaxPoolRows {
  const float* x = nullptr;
  int64_t r0 = 0, h = 0, w = 0, ldx = 0;
  int64_t oy0 = 0, oy1 = 0;
  float* y = nullptr;
};

// dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols. Writes whole vectors down dst's
// columns: entries [rows, round_up(rows, 16)) of each dst row are written too (with zeros or
// copies), so ldd must be at least round_up(rows, 16).
struct Transpose {
  const float* src = nullptr;
  int64_t lds = 0, rows = 0, cols = 0;
  float* dst = nullptr;
  int64_t ldd = 0;
};

// The kernel table of one instruction set.
struct GemmIsa {
  const char* name;
  CpuIsa isa;
  int mr;  // most rows of C one micro-kernel holds in registers
  int nr;  // columns of C (pixels) per micro-kernel: B panels are nr wide
  // Runs the whole tile: row blocks of at most mr rows (balanced), n in chunks of nr.
  void (*gemm)(const GemmTile& t);
  void (*pack_rows)(const PackRows& p);
  void (*pack_gather)(const PackGather& p);
  void (*pad_plane)(const PadPlane& p);
  // even[j] = src[2j], odd[j] = src[2j + 1] for j < n, through relu(x * *scale + *shift) when
  // scale is set: one input row into two phases (conv2d_cpu's phase mode, stride 2).
  void (*deinterleave)(const float* src, int64_t n, float* even, float* odd, const float* scale,
                       const float* shift);
  // dst[i] = epilogue(src[i]) as in GemmTile, for one row (alpha null: no affine).
  void (*epilogue_row)(const float* src, float* dst, int64_t n, const float* alpha,
                       const float* beta, const float* res, bool relu);
  void (*wino_input)(const WinoInput& w);  // F(2x2, 3x3)
  void (*wino_output)(const WinoOutput& w);
  void (*wino_scatter)(const WinoScatter& w);
  void (*wino4_input)(const WinoInput& w);  // F(4x4, 3x3)
  void (*wino4_output)(const WinoOutput& w);
  void (*wino4_scatter)(const WinoScatter& w);
  // F(2x2, 3x3) at stride 2 (5x5 transforms; the output staged for wino_scatter).
  void (*wino2s_input)(const WinoInput& w);
  void (*wino2s_output)(const WinoOutput& w);
  void (*transpose)(const Transpose& t);
  // 3x3 max pool, stride 2, padding 1 (padded taps -inf), of an h x w plane into
  // ((h + 1) / 2) x ((w + 1) / 2): the output rows [oy0, oy1) of MaxPoolRows; buf holds
  // max_pool_3s2_buf(w) floats. Returns false, those rows then unspecified, when a row read holds
  // a NaN or an infinity (the caller redoes them exactly).
  bool (*max_pool_3s2)(const MaxPoolRows& p, float* buf);
  void (*gather_s2)(const PanelGather& g);
  // Only in the bf16 table (cpu_isa_bf16), nullptr elsewhere: dst[j] = the pair (bf16(lo[j]),
  // bf16(hi[j])) as one 32-bit lane, lo in the low half (hi null: zero), for j < n; round to nearest
  // even, as VCVTNEPS2BF16 does (denormal inputs read as zero).
  void (*bf16_pairs)(const float* lo, const float* hi, int64_t n, float* dst);
};
inline int64_t max_pool_3s2_buf(int64_t w) { return 3 * (w + 2) + 3 * 16; }

const GemmIsa& gemm_isa_scalar();
const GemmIsa& gemm_isa_avx2();    // only call when cpu_isa_supported(kAvx2)
const GemmIsa& gemm_isa_avx512();  // only call when cpu_isa_supported(kAvx512)
const GemmIsa& gemm_isa_bf16_avx512();  // only call when cpu_isa_bf16() is not null

bool cpu_isa_supported(CpuIsa isa);
const char* cpu_isa_name(CpuIsa isa);
// The table conv2d_cpu uses now: the best supported ISA, capped by DICE_CPU_ISA / force_cpu_isa.
const GemmIsa& cpu_isa();
// Caps the ISA for the whole process (tests, benchmarks); returns the previous cap. An ISA the CPU
// lacks falls back to the best one below it.
CpuIsa force_cpu_isa(CpuIsa cap);
// The table of conv2d_cpu's bf16 mode (GemmIsa::gemm on bf16 pairs, bf16_pairs set): the
// AVX-512 one where the running CPU has AVX512-BF16 and the cap allows AVX-512; nullptr otherwise
// (there is no slower fallback: the mode exists for its speed).
const GemmIsa* cpu_isa_bf16();
// cpu_isa_bf16(), or a one-line dice::Error naming the fix (--precision fp32) where it is null.
const GemmIsa& require_cpu_isa_bf16();

// Row partition shared by the packer and the kernels: M rows in ceil(M/mr) blocks of nearly
// equal size (so M = 64 with mr = 12 gives 11,11,11,11,10,10 rather than 5 x 12 + 4).
int64_t gemm_row_blocks(int64_t m, int mr);
int64_t gemm_row_block_start(int64_t m, int64_t blocks, int64_t b);

// Packs weights w[m][k] (row-major) into the A layout of GemmTile for a kernel with `mr`.
void pack_weights(const float* w, int64_t m, int64_t k, int mr, float* a);
// The inverse: w[m][k] back from an A layout packed for `mr`.
void unpack_weights(const float* a, int64_t m, int64_t k, int mr, float* w);

}  // namespace dice
