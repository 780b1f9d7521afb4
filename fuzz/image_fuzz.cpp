// libFuzzer target: image decoding (data/image.cpp over stb_image: JPEG, PNG, BMP, PNM) from
// memory, then Resize / CenterCrop / bilinear resize (data/resize.cpp); see fuzz/targets.h.
// Here only: images whose header claims more than 2^22 pixels are skipped. The decoder accepts
// up to PIL's 179-megapixel limit, and touching that much memory per run would make fuzzing
// crawl without reaching new code (stbi_info's header parsing still runs on them).
#include <stb_image.h>

#include "fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 24)) return 0;
  int w = 0, h = 0, c = 0;
  if (stbi_info_from_memory(data, static_cast<int>(size), &w, &h, &c) &&
      static_cast<int64_t>(w) * h > (int64_t(1) << 22))
    return 0;
  try {
    dice_fuzz::image(data, size);
  } catch (const dice::Error&) {
  }
  return 0;
}
