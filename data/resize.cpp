// PIL-exact bilinear resize (Pillow 9.4, libImaging/Resample.c, 8 bits per channel) and CenterCrop.
//
// Pillow's algorithm, which we follow step for step because every rounding shows in the tensors:
// - Per axis, scale = in/out; the triangle filter (support 1) is stretched by max(scale, 1), so
//   shrinking averages over scale input pixels (antialiasing) and enlarging interpolates.
// - Output pixel xx is centred at (xx + 0.5) * scale; its taps are the input pixels
//   [int(center - support + 0.5), int(center + support + 0.5)) clipped to the image, weighted by
//   filter((x - center + 0.5) / filterscale), normalized to sum 1 in double, then converted to
//   int32 with 22 fractional bits, rounding half away from zero.
// - Horizontal pass first, into an 8-bit intermediate, then the vertical pass; each accumulates in
//   int32 starting from 1 << 21 (rounding), shifts right by 22 and clips to 0..255.
// - A pass whose size is unchanged is skipped (not run as an identity filter).
// - The horizontal pass only computes the rows the vertical pass reads (rows from the first tap of
//   output row 0 to the last tap of the last output row). That only saves work: each row is
//   computed independently, so the result equals computing every row.
// Limits: each side is at most 2^24, and the output and the intermediate image at most
// kMaxResizePixels (PIL's decompression-bomb limit, which image.cpp applies to decoded images), so
// a thin image under Resize(n) cannot ask for gigabytes: a one-line dice::Error instead.
#include "data/resize.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "core/error.h"

namespace dice {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // Pillow's PRECISION_BITS
constexpr int64_t kMaxResizePixels = 2 * 89478485;

void check_area(int64_t w, int64_t h, const char* what, const Image& in, int out_w, int out_h) {
  if (w * h > kMaxResizePixels)
    throw_error("resize: resizing a ", in.width, "x", in.height, " image to ", out_w, "x", out_h,
                " needs a ", w, "x", h, " ", what, " (over the ", kMaxResizePixels,
                "-pixel limit); crop the image or choose a smaller size");
}

struct Coeffs {
  int ksize = 0;
  std::vector<int> bounds;  // per output pixel: first input index, number of taps
  std::vector<int32_t> k;   // per output pixel: ksize fixed-point weights
};

double triangle(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

// precompute_coeffs + normalize_coeffs_8bpc for box = [0, in_size).
Coeffs make_coeffs(int in_size, int out_size) {
  Coeffs c;
  const double scale = static_cast<double>(in_size) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = 1.0 * filterscale;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.bounds.resize(static_cast<size_t>(out_size) * 2);
  c.k.assign(static_cast<size_t>(out_size) * c.ksize, 0);
  std::vector<double> w(c.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    DICE_ASSERT(xmax >= 0 && xmax <= c.ksize);
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      w[x] = triangle((x + xmin - center + 0.5) * ss);
      ww += w[x];
    }
    int32_t* k = &c.k[static_cast<size_t>(xx) * c.ksize];
    for (int x = 0; x < xmax; ++x) {
      double v = ww != 0.0 ? w[x] / ww : w[x];
      double f = v * (1 << kPrecisionBits);
      k[x] = static_cast<int32_t>(v < 0 ? -0.5 + f : 0.5 + f);
    }
    c.bounds[xx * 2 + 0] = xmin;
    c.bounds[xx * 2 + 1] = xmax;
  }
  return c;
}

inline uint8_t clip8(int32_t v) {
  v >>= kPrecisionBits;  // arithmetic shift, as in C on every platform we build for
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

// Rows [y0, y1) of `in`, resampled horizontally into out (out.height == y1 - y0).
// The two passes are straight-line arithmetic over every pixel: their loop compares tell a
// coverage-guided fuzzer nothing, yet tracing them took most of fuzz_image's time. Only coverage
// instrumentation is dropped (clang); sanitizers still check them.
#if defined(__clang__)
#define DICE_NO_COVERAGE __attribute__((no_sanitize("coverage")))
#else
#define DICE_NO_COVERAGE
#endif

DICE_NO_COVERAGE void horizontal_pass(const Image& in, int y0, const Coeffs& c, Image* out) {
  for (int yy = 0; yy < out->height; ++yy) {
    const uint8_t* src = in.row(y0 + yy);
    uint8_t* dst = out->row(yy);
    for (int xx = 0; xx < out->width; ++xx) {
      const int xmin = c.bounds[xx * 2], n = c.bounds[xx * 2 + 1];
      const int32_t* k = &c.k[static_cast<size_t>(xx) * c.ksize];
      int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
      const uint8_t* p = src + static_cast<size_t>(xmin) * 3;
      for (int x = 0; x < n; ++x) {
        s0 += p[x * 3 + 0] * k[x];
        s1 += p[x * 3 + 1] * k[x];
        s2 += p[x * 3 + 2] * k[x];
      }
      dst[xx * 3 + 0] = clip8(s0);
      dst[xx * 3 + 1] = clip8(s1);
      dst[xx * 3 + 2] = clip8(s2);
    }
  }
}

// Vertical pass; the taps of output row yy are rows bounds[2yy] - y_shift + [0, n) of `in`.
DICE_NO_COVERAGE void vertical_pass(const Image& in, int y_shift, const Coeffs& c, Image* out) {
  const size_t row_len = static_cast<size_t>(out->width) * 3;
  std::vector<int32_t> acc(row_len);
  for (int yy = 0; yy < out->height; ++yy) {
    const int ymin = c.bounds[yy * 2] - y_shift, n = c.bounds[yy * 2 + 1];
    const int32_t* k = &c.k[static_cast<size_t>(yy) * c.ksize];
    std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
    // Row-at-a-time accumulation: the same sums in the same order as Pillow's per-pixel loop
    // (integer addition, so the order would not matter anyway), but cache friendly.
    for (int y = 0; y < n; ++y) {
      const uint8_t* src = in.row(ymin + y);
      const int32_t ky = k[y];
      for (size_t i = 0; i < row_len; ++i) acc[i] += src[i] * ky;
    }
    uint8_t* dst = out->row(yy);
    for (size_t i = 0; i < row_len; ++i) dst[i] = clip8(acc[i]);
  }
}

}  // namespace

Image resize_bilinear(const Image& in, int out_w, int out_h) {
  DICE_ASSERT(in.width > 0 && in.height > 0 &&
              in.rgb.size() == static_cast<size_t>(in.width) * in.height * 3);
  if (out_w <= 0 || out_h <= 0)
    throw_error("resize: output size ", out_w, "x", out_h, " must be positive");
  if (out_w == in.width && out_h == in.height) return in;
  check_area(out_w, out_h, "output", in, out_w, out_h);
  const bool need_h = out_w != in.width;
  const bool need_v = out_h != in.height;

  const Coeffs cv = make_coeffs(in.height, out_h);
  const int ybox_first = cv.bounds[0];
  const int ybox_last = cv.bounds[(out_h - 1) * 2] + cv.bounds[(out_h - 1) * 2 + 1];

  if (!need_v) {  // horizontal only: every row is needed
    Image out(out_w, in.height);
    horizontal_pass(in, 0, make_coeffs(in.width, out_w), &out);
    return out;
  }
  Image out(out_w, out_h);
  if (!need_h) {
    vertical_pass(in, 0, cv, &out);
    return out;
  }
  check_area(out_w, ybox_last - ybox_first, "intermediate", in, out_w, out_h);
  Image tmp(out_w, ybox_last - ybox_first);
  horizontal_pass(in, ybox_first, make_coeffs(in.width, out_w), &tmp);
  vertical_pass(tmp, ybox_first, cv, &out);
  return out;
}

void resize_shorter_size(int w, int h, int64_t n, int* out_w, int* out_h) {
  DICE_ASSERT(w > 0 && h > 0);
  if (n <= 0 || n > (1 << 24)) throw_error("resize: size ", n, " must be in 1..2^24");
  const int64_t s = w <= h ? w : h, l = w <= h ? h : w;
  // Python: int(n * long / short). n * long is an exact integer; the true division of two
  // doubles holding exact integers is correctly rounded in both languages.
  const double q = static_cast<double>(n * l) / static_cast<double>(s);
  const int64_t nl = static_cast<int64_t>(q);
  if (nl > (1 << 24) || nl <= 0)
    throw_error("resize: resizing ", w, "x", h, " to shorter side ", n, " gives an invalid size");
  if (w <= h) {
    *out_w = static_cast<int>(n);
    *out_h = static_cast<int>(nl);
  } else {
    *out_w = static_cast<int>(nl);
    *out_h = static_cast<int>(n);
  }
}

Image resize_shorter(const Image& in, int64_t n) {
  int w, h;
  resize_shorter_size(in.width, in.height, n, &w, &h);
  return resize_bilinear(in, w, h);
}

namespace {
// Python's int(round(x / 2.0)) for an integer x >= 0: round half to even.
int64_t half_round_even(int64_t x) {
  int64_t q = x / 2;
  if (x % 2 == 1 && q % 2 == 1) ++q;  // x/2 = q + 0.5: round to the even neighbour
  return q;
}
}  // namespace

Image center_crop(const Image& in, int64_t crop_h, int64_t crop_w) {
  if (crop_h <= 0 || crop_w <= 0 || crop_h > (1 << 24) || crop_w > (1 << 24))
    throw_error("center crop: size ", crop_h, "x", crop_w, " is invalid");
  const Image* src = &in;
  Image padded;
  if (crop_w > in.width || crop_h > in.height) {
    // torchvision pads (left, top) = floor(diff / 2), (right, bottom) = ceil(diff / 2) with 0.
    const int64_t pl = crop_w > in.width ? (crop_w - in.width) / 2 : 0;
    const int64_t pt = crop_h > in.height ? (crop_h - in.height) / 2 : 0;
    const int64_t pr = crop_w > in.width ? (crop_w - in.width + 1) / 2 : 0;
    const int64_t pb = crop_h > in.height ? (crop_h - in.height + 1) / 2 : 0;
    padded = Image(static_cast<int>(in.width + pl + pr), static_cast<int>(in.height + pt + pb));
    for (int y = 0; y < in.height; ++y)
      std::memcpy(padded.row(static_cast<int>(y + pt)) + pl * 3, in.row(y),
                  static_cast<size_t>(in.width) * 3);
    if (padded.width == crop_w && padded.height == crop_h) return padded;
    src = &padded;
  }
  if (src->width == crop_w && src->height == crop_h) return *src;
  const int64_t top = half_round_even(src->height - crop_h);
  const int64_t left = half_round_even(src->width - crop_w);
  Image out(static_cast<int>(crop_w), static_cast<int>(crop_h));
  for (int64_t y = 0; y < crop_h; ++y)
    std::memcpy(out.row(static_cast<int>(y)), src->row(static_cast<int>(top + y)) + left * 3,
                static_cast<size_t>(crop_w) * 3);
  return out;
}

}  // namespace dice
