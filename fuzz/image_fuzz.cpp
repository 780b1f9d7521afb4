// libFuzzer target: image decoding (data/image.cpp over stb_image: JPEG, PNG, BMP, PNM) from
// memory, then Resize / CenterCrop / bilinear resize (data/resize.cpp); see fuzz/targets.h.
// Here only: images whose header claims more than 2^18 pixels (512 x 512) are skipped. The
// decoder accepts up to PIL's 179-megapixel limit, and touching that much memory per run makes
// fuzzing crawl (2^22 gave about 100 executions/s under ASan) without reaching new code: every
// decoder and resize path, the resize area cap included (a 1 x 2^18 image to shorter side 64),
// is reachable below the cap.
#include <stb_image.h>

#include "fuzz/targets.h"

namespace {

// Width x height of a JPEG from its first SOFn segment (0 if none): stbi_info must not see a
// JPEG before decode_image_memory has screened its Huffman tables (stb 2.27 overflows on them).
int64_t jpeg_pixels(const uint8_t* d, size_t n) {
  size_t i = 2;
  while (i + 9 < n && d[i] == 0xFF) {
    const unsigned m = d[i + 1];
    if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC)
      return int64_t(d[i + 5] << 8 | d[i + 6]) * (d[i + 7] << 8 | d[i + 8]);
    i += 2 + (d[i + 2] << 8 | d[i + 3]);
  }
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2 || size > (1u << 24)) return 0;
  // stb (and decode_image_memory) skip 0xFF fill bytes before SOI: FF FF .. FF D8 is a JPEG too.
  size_t fill = 0;
  while (fill + 1 < size && data[fill] == 0xFF && data[fill + 1] == 0xFF) ++fill;
  int64_t pixels = 0;
  if (data[fill] == 0xFF && fill + 1 < size && data[fill + 1] == 0xD8) {
    pixels = jpeg_pixels(data + fill, size - fill);
  } else {
    int w = 0, h = 0, c = 0;
    if (stbi_info_from_memory(data, static_cast<int>(size), &w, &h, &c)) pixels = int64_t(w) * h;
  }
  if (pixels > (int64_t(1) << 18)) return 0;
  try {
    dice_fuzz::image(data, size);
  } catch (const dice::Error&) {
  }
  return 0;
}
