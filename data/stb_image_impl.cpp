// The one compiled copy of stb_image (STB_IMAGE_IMPLEMENTATION), with its JPEG back end made to
// compute exactly what libjpeg-turbo computes for PIL.
//
// stb_image and libjpeg(-turbo) agree on the entropy decoding (lossless) but not on three pieces
// of arithmetic, which made stb's pixels differ from PIL's by a few levels everywhere and, for
// 4:2:2 images, by up to ~80 levels in the last chroma column (stb's h2v1 upsampler weights the
// wrong neighbour there). We replace those pieces with libjpeg's own integer arithmetic:
//   1. the inverse DCT: libjpeg's default JDCT_ISLOW (jidctint.c: Loeffler-Ligtenberg-Moschytz
//      with 13-bit constants, 2 extra bits between passes, its zero-AC shortcuts and its
//      range-limit table, whose index wraps for out-of-range corrupt data);
//   2. "fancy" chroma upsampling (jdsample.c): triangle filters with libjpeg's alternating
//      rounding biases (h2v1: +1/+2; h2v2: +8/+7 by column; h1v2: +1 for the upper, +2 for the
//      lower output row), and plain replication where libjpeg falls back to it (h2v1 and h2v2
//      components at most 2 samples wide);
//   3. YCbCr -> RGB (jdcolor.c): 16-bit fixed-point tables rounded as libjpeg rounds them.
// libjpeg-turbo's SIMD versions of these are bit-exact with its C code, so matching the C code
// matches PIL. stb calls these kernels through function pointers assigned by name; renaming
// stb's own definitions with function-like macros (which do not expand at the bare-name
// assignments) makes those assignments pick up the functions below. STBI_NO_SIMD keeps stb from
// swapping in its SSE2 kernels.
// CMYK/YCCK JPEGs: stb's product round(C*K/255) equals PIL's cmyk2rgb on the inverted samples,
// and image.cpp makes stb see the colour transform libjpeg assumes. Arithmetic coding and 12-bit
// JPEGs stb cannot decode (image.cpp refuses them by name). Not covered (rare): libjpeg's block
// smoothing of *incomplete* progressive files.
// One fix of stb 2.27 itself: on corrupt entropy data its bit reader consumes more bits than it
// holds (code_bits < 0), and stbi__grow_buffer_unsafe then shifts by 33 or more (undefined). Calls
// to it get an extra DiceOverride argument, which routes them to stbi__grow_checked below; stb's
// definition takes the same extra (unnamed, never passed) parameter and is called from there.
// It empties an overdrawn buffer first, so the reader sees zero bits, as 2.28's checks make it.
// stbi__getn is wrapped the same way, so that copying 0 bytes never passes a null pointer to
// memcpy.
// Allocation bound: every stb allocation goes through stb_malloc_capped / stb_realloc_capped,
// which refuse (stb then fails with "outofmem") any block over the per-thread cap that decode_stb
// sets from the image's dimensions (data/stb_limits.h). Without it a PNG's zlib stream could
// inflate to 4 GiB whatever its header says, since stb grows its output buffer on demand.

// The overrides below name stb_image 2.27's internals. CMake reads the version line of the
// stb_image.h it found and passes it here; a new stb must be re-checked against them (pixels
// compared with PIL again) before the number below changes, in CMakeLists.txt too.
#if DICE_STB_IMAGE_VERSION != 227
#error "stb_image_impl.cpp adapts stb_image 2.27 (DICE_STB_IMAGE_VERSION must be 227): re-check it"
#endif

#define STB_IMAGE_IMPLEMENTATION
#define STBI_MALLOC(sz) stb_malloc_capped(sz)
#define STBI_REALLOC(p, newsz) stb_realloc_capped(p, newsz)
#define STBI_FREE(p) std::free(p)
#define STBI_NO_STDIO
#define STBI_NO_SIMD
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_ONLY_PNM

#include <cstdint>
#include <cstdlib>

#include "data/stb_limits.h"

namespace {
thread_local size_t t_cap = 0;  // 0: no bound
thread_local bool t_refused = false;

bool over_cap(size_t n) {
  if (t_cap == 0 || n <= t_cap) return false;
  t_refused = true;
  return true;
}
}  // namespace

namespace dice {
void set_stb_allocation_cap(size_t bytes) {
  t_cap = bytes;
  t_refused = false;
}
bool stb_allocation_refused() { return t_refused; }
size_t stb_allocation_cap() { return t_cap; }
}  // namespace dice

static void* stb_malloc_capped(size_t n) { return over_cap(n) ? nullptr : std::malloc(n); }
static void* stb_realloc_capped(void* p, size_t n) { return over_cap(n) ? nullptr : std::realloc(p, n); }

static void libjpeg_idct_islow(unsigned char* out, int out_stride, short data[64]);
static void libjpeg_ycc_rgb_row(unsigned char* out, const unsigned char* y,
                                const unsigned char* pcb, const unsigned char* pcr, int count,
                                int step);
static unsigned char* libjpeg_h2v2_fancy(unsigned char* out, unsigned char* in_near,
                                         unsigned char* in_far, int w, int hs);
static unsigned char* libjpeg_h2v1_fancy(unsigned char* out, unsigned char* in_near,
                                         unsigned char* in_far, int w, int hs);
static unsigned char* libjpeg_h1v2_fancy(unsigned char* out, unsigned char* in_near,
                                         unsigned char* in_far, int w, int hs);

// stb's definitions get these names (and stay unused); its assignments of the bare names get
// ours through the object-like aliases below.
#define stbi__idct_block(...) stbi__idct_block_unused(__VA_ARGS__)
#define stbi__YCbCr_to_RGB_row(...) stbi__YCbCr_to_RGB_row_unused(__VA_ARGS__)
#define stbi__resample_row_hv_2(...) stbi__resample_row_hv_2_unused(__VA_ARGS__)
#define stbi__resample_row_h_2(...) stbi__resample_row_h_2_unused(__VA_ARGS__)
#define stbi__resample_row_v_2(...) stbi__resample_row_v_2_unused(__VA_ARGS__)

// The bit reader's refill: stb's calls pass DiceOverride() and pick the template (the only
// overload that takes it); stb's definition becomes the overload whose extra parameter has type
// DiceOverride (*)(), reached only from the template.
struct DiceOverride {};
template <typename Jpeg>
static void stbi__grow_checked(Jpeg* j, DiceOverride);
#define stbi__grow_buffer_unsafe(...) stbi__grow_checked(__VA_ARGS__, DiceOverride())
// The byte copier, the same way: a PNG whose first IDAT chunk is empty makes stb copy 0 bytes to
// its still-null buffer (memcpy(NULL, p, 0): undefined behaviour, found by fuzz_image).
template <typename Ctx>
static int stbi__getn_checked(Ctx* s, unsigned char* buffer, int n, DiceOverride);
#define stbi__getn(...) stbi__getn_checked(__VA_ARGS__, DiceOverride())

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#endif
// A function-like macro is not expanded where its name is not followed by '(' : the pointer
// assignments in stbi__setup_jpeg / load_jpeg_image then name these objects instead.
static void (*const stbi__idct_block)(unsigned char*, int, short*) = libjpeg_idct_islow;
static void (*const stbi__YCbCr_to_RGB_row)(unsigned char*, const unsigned char*,
                                            const unsigned char*, const unsigned char*, int,
                                            int) = libjpeg_ycc_rgb_row;
static unsigned char* (*const stbi__resample_row_hv_2)(unsigned char*, unsigned char*,
                                                       unsigned char*, int,
                                                       int) = libjpeg_h2v2_fancy;
static unsigned char* (*const stbi__resample_row_h_2)(unsigned char*, unsigned char*,
                                                      unsigned char*, int,
                                                      int) = libjpeg_h2v1_fancy;
static unsigned char* (*const stbi__resample_row_v_2)(unsigned char*, unsigned char*,
                                                      unsigned char*, int,
                                                      int) = libjpeg_h1v2_fancy;
#include <stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

// ------------------------------------------------------------------ bit reader refill
// code_bits < 0: more bits were consumed than the buffer held (corrupt data past the end of the
// scan); there are none left, so the refill starts from an empty buffer instead of shifting by
// 24 - code_bits >= 32.
template <typename Jpeg>
static void stbi__grow_checked(Jpeg* j, DiceOverride) {
  if (j->code_bits < 0) {
    j->code_bits = 0;
    j->code_buffer = 0;
  }
  stbi__grow_checked(j, static_cast<DiceOverride (*)()>(nullptr));  // stb's own
}

// Copying nothing succeeds without touching either pointer (stb's own would memcpy 0 bytes).
template <typename Ctx>
static int stbi__getn_checked(Ctx* s, unsigned char* buffer, int n, DiceOverride) {
  if (n == 0) return 1;
  return stbi__getn_checked(s, buffer, n, static_cast<DiceOverride (*)()>(nullptr));  // stb's own
}

// ------------------------------------------------------------------ inverse DCT (JDCT_ISLOW)
namespace {

constexpr int kConstBits = 13, kPass1Bits = 2;
constexpr int64_t FIX_0_298631336 = 2446, FIX_0_390180644 = 3196, FIX_0_541196100 = 4433,
                  FIX_0_765366865 = 6270, FIX_0_899976223 = 7373, FIX_1_175875602 = 9633,
                  FIX_1_501321110 = 12299, FIX_1_847759065 = 15137, FIX_1_961570560 = 16069,
                  FIX_2_053119869 = 16819, FIX_2_562915447 = 20995, FIX_3_072711026 = 25172;

// Intermediates are 64-bit like libjpeg's JLONG on LP64 Linux, so that corrupt coefficients
// wrap (or not) exactly as there instead of overflowing int32.
inline int64_t descale(int64_t x, int n) { return (x + (int64_t(1) << (n - 1))) >> n; }

// libjpeg's post-IDCT range limit: value + 128 clamped to 0..255 for |value| < 512, and the
// table's wrap-around (index & 1023) beyond that, as only corrupt data produces.
inline unsigned char range_limit(int64_t v) {
  const int idx = static_cast<int>(v & 1023);
  if (idx < 128) return static_cast<unsigned char>(idx + 128);
  if (idx < 512) return 255;
  if (idx < 896) return 0;
  return static_cast<unsigned char>(idx - 896);
}

// One 1-D pass of the LLM IDCT on in[0], in[s], ..., in[7s]; results before descaling.
struct Idct1d {
  int64_t t10, t11, t12, t13, t0, t1, t2, t3;
  Idct1d(int64_t i0, int64_t i1, int64_t i2, int64_t i3, int64_t i4, int64_t i5, int64_t i6,
         int64_t i7) {
    // Even part.
    int64_t z2 = i2, z3 = i6;
    int64_t z1 = (z2 + z3) * FIX_0_541196100;
    int64_t tmp2 = z1 + z3 * -FIX_1_847759065;
    int64_t tmp3 = z1 + z2 * FIX_0_765366865;
    int64_t tmp0 = (i0 + i4) * (int64_t(1) << kConstBits);
    int64_t tmp1 = (i0 - i4) * (int64_t(1) << kConstBits);
    t10 = tmp0 + tmp3;
    t13 = tmp0 - tmp3;
    t11 = tmp1 + tmp2;
    t12 = tmp1 - tmp2;
    // Odd part.
    tmp0 = i7;
    tmp1 = i5;
    tmp2 = i3;
    tmp3 = i1;
    z1 = tmp0 + tmp3;
    z2 = tmp1 + tmp2;
    z3 = tmp0 + tmp2;
    int64_t z4 = tmp1 + tmp3;
    int64_t z5 = (z3 + z4) * FIX_1_175875602;
    tmp0 *= FIX_0_298631336;
    tmp1 *= FIX_2_053119869;
    tmp2 *= FIX_3_072711026;
    tmp3 *= FIX_1_501321110;
    z1 *= -FIX_0_899976223;
    z2 *= -FIX_2_562915447;
    z3 *= -FIX_1_961570560;
    z4 *= -FIX_0_390180644;
    z3 += z5;
    z4 += z5;
    t0 = tmp0 + z1 + z3;
    t1 = tmp1 + z2 + z4;
    t2 = tmp2 + z2 + z3;
    t3 = tmp3 + z1 + z4;
  }
};

}  // namespace

// data: dequantized coefficients in natural (row-major) order, as stb hands them over.
static void libjpeg_idct_islow(unsigned char* out, int out_stride, short data[64]) {
  int32_t ws[64];
  // Pass 1: columns, into the work array, with kPass1Bits of extra precision.
  for (int c = 0; c < 8; ++c) {
    const short* in = data + c;
    int32_t* w = ws + c;
    if (in[8] == 0 && in[16] == 0 && in[24] == 0 && in[32] == 0 && in[40] == 0 && in[48] == 0 &&
        in[56] == 0) {
      const int32_t dc = int32_t(in[0]) * (1 << kPass1Bits);
      for (int r = 0; r < 8; ++r) w[r * 8] = dc;
      continue;
    }
    Idct1d d(in[0], in[8], in[16], in[24], in[32], in[40], in[48], in[56]);
    const int n = kConstBits - kPass1Bits;
    // libjpeg stores the work array as int.
    w[0] = static_cast<int32_t>(descale(d.t10 + d.t3, n));
    w[56] = static_cast<int32_t>(descale(d.t10 - d.t3, n));
    w[8] = static_cast<int32_t>(descale(d.t11 + d.t2, n));
    w[48] = static_cast<int32_t>(descale(d.t11 - d.t2, n));
    w[16] = static_cast<int32_t>(descale(d.t12 + d.t1, n));
    w[40] = static_cast<int32_t>(descale(d.t12 - d.t1, n));
    w[24] = static_cast<int32_t>(descale(d.t13 + d.t0, n));
    w[32] = static_cast<int32_t>(descale(d.t13 - d.t0, n));
  }
  // Pass 2: rows, descaled by 8 and the pass-1 bits, plus 128, range-limited.
  for (int r = 0; r < 8; ++r) {
    const int32_t* w = ws + r * 8;
    unsigned char* o = out + r * out_stride;
    if (w[1] == 0 && w[2] == 0 && w[3] == 0 && w[4] == 0 && w[5] == 0 && w[6] == 0 && w[7] == 0) {
      const unsigned char v = range_limit(descale(w[0], kPass1Bits + 3));
      for (int c = 0; c < 8; ++c) o[c] = v;
      continue;
    }
    Idct1d d(w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]);
    const int n = kConstBits + kPass1Bits + 3;
    o[0] = range_limit(descale(d.t10 + d.t3, n));
    o[7] = range_limit(descale(d.t10 - d.t3, n));
    o[1] = range_limit(descale(d.t11 + d.t2, n));
    o[6] = range_limit(descale(d.t11 - d.t2, n));
    o[2] = range_limit(descale(d.t12 + d.t1, n));
    o[5] = range_limit(descale(d.t12 - d.t1, n));
    o[3] = range_limit(descale(d.t13 + d.t0, n));
    o[4] = range_limit(descale(d.t13 - d.t0, n));
  }
}

// ------------------------------------------------------------------ YCbCr -> RGB (jdcolor.c)
namespace {

struct YccTables {
  int cr_r[256], cb_b[256];
  int32_t cr_g[256], cb_g[256];
  YccTables() {
    constexpr int kScale = 16;
    constexpr int32_t kHalf = int32_t(1) << (kScale - 1);
    auto fix = [](double x) { return static_cast<int32_t>(x * (1 << kScale) + 0.5); };
    for (int i = 0; i < 256; ++i) {
      const int32_t x = i - 128;
      cr_r[i] = static_cast<int>((fix(1.40200) * x + kHalf) >> kScale);
      cb_b[i] = static_cast<int>((fix(1.77200) * x + kHalf) >> kScale);
      cr_g[i] = -fix(0.71414) * x;
      cb_g[i] = -fix(0.34414) * x + kHalf;
    }
  }
};

const YccTables& ycc_tables() {
  static const YccTables t;
  return t;
}

inline unsigned char clamp255(int v) {
  return static_cast<unsigned char>(v < 0 ? 0 : v > 255 ? 255 : v);
}

}  // namespace

static void libjpeg_ycc_rgb_row(unsigned char* out, const unsigned char* y,
                                const unsigned char* pcb, const unsigned char* pcr, int count,
                                int step) {
  const YccTables& t = ycc_tables();
  for (int i = 0; i < count; ++i, out += step) {
    const int yy = y[i], cb = pcb[i], cr = pcr[i];
    out[0] = clamp255(yy + t.cr_r[cr]);
    out[1] = clamp255(yy + static_cast<int>((t.cb_g[cb] + t.cr_g[cr]) >> 16));
    out[2] = clamp255(yy + t.cb_b[cb]);
    if (step == 4) out[3] = 255;
  }
}

// ------------------------------------------------------------------ fancy upsampling (jdsample.c)
// stb passes the nearer input row as in_near and the next-nearer one (above or below) as in_far.

static unsigned char* libjpeg_h2v1_fancy(unsigned char* out, unsigned char* in, unsigned char*,
                                         int w, int) {
  if (w <= 2) {  // libjpeg uses plain replication for components this narrow
    for (int i = 0; i < w; ++i) out[2 * i] = out[2 * i + 1] = in[i];
    return out;
  }
  out[0] = in[0];
  out[1] = static_cast<unsigned char>((in[0] * 3 + in[1] + 2) >> 2);
  for (int i = 1; i < w - 1; ++i) {
    const int v = in[i] * 3;
    out[2 * i] = static_cast<unsigned char>((v + in[i - 1] + 1) >> 2);
    out[2 * i + 1] = static_cast<unsigned char>((v + in[i + 1] + 2) >> 2);
  }
  out[2 * w - 2] = static_cast<unsigned char>((in[w - 1] * 3 + in[w - 2] + 1) >> 2);
  out[2 * w - 1] = in[w - 1];
  return out;
}

static unsigned char* libjpeg_h1v2_fancy(unsigned char* out, unsigned char* near,
                                         unsigned char* far, int w, int) {
  // libjpeg: bias 1 when the next-nearer row is above (upper output row), 2 when below. stb's
  // rows live in one buffer in order, so "below" is a higher address; at the image edges
  // far == near and the bias cannot change (4v + b) >> 2.
  const int bias = far > near ? 2 : 1;
  for (int i = 0; i < w; ++i)
    out[i] = static_cast<unsigned char>((near[i] * 3 + far[i] + bias) >> 2);
  return out;
}

static unsigned char* libjpeg_h2v2_fancy(unsigned char* out, unsigned char* near,
                                         unsigned char* far, int w, int) {
  if (w <= 2) {  // libjpeg uses plain replication (h2v2_upsample) for components this narrow
    for (int i = 0; i < w; ++i) out[2 * i] = out[2 * i + 1] = near[i];
    return out;
  }
  int last = near[0] * 3 + far[0], cur = last, next = near[1] * 3 + far[1];
  out[0] = static_cast<unsigned char>((cur * 4 + 8) >> 4);
  out[1] = static_cast<unsigned char>((cur * 3 + next + 7) >> 4);
  for (int i = 1; i < w - 1; ++i) {
    last = cur;
    cur = next;
    next = near[i + 1] * 3 + far[i + 1];
    out[2 * i] = static_cast<unsigned char>((cur * 3 + last + 8) >> 4);
    out[2 * i + 1] = static_cast<unsigned char>((cur * 3 + next + 7) >> 4);
  }
  last = cur;
  cur = next;
  out[2 * w - 2] = static_cast<unsigned char>((cur * 3 + last + 8) >> 4);
  out[2 * w - 1] = static_cast<unsigned char>((cur * 4 + 7) >> 4);
  return out;
}
