// libFuzzer target: image decoding (data/image.cpp over stb_image: JPEG, PNG, BMP, PNM) from
// memory, then the torchvision geometry (data/resize.cpp): Resize(n) and CenterCrop(h, w) with
// sizes taken from the last two input bytes, and an arbitrary bilinear resize.
// Images whose header claims more than 2^22 pixels are skipped: the decoder accepts up to PIL's
// 179-megapixel limit, and touching that much memory per run would make fuzzing crawl without
// reaching new code (the header checks themselves still run for them up to stbi_info).
#include <stb_image.h>

#include "data/image.h"
#include "data/resize.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2 || size > (1u << 24)) return 0;
  int w = 0, h = 0, c = 0;
  if (stbi_info_from_memory(data, static_cast<int>(size), &w, &h, &c) &&
      static_cast<int64_t>(w) * h > (int64_t(1) << 22))
    return 0;
  const int n = 1 + data[size - 1] % 64, crop = 1 + data[size - 2] % 64;
  try {
    dice::Image img = dice::decode_image_memory(data, size, "fuzz.img");
    DICE_FUZZ_CHECK(img.rgb.size() == static_cast<size_t>(img.width) * img.height * 3);
    dice::Image r = dice::resize_shorter(img, n);
    DICE_FUZZ_CHECK(std::min(r.width, r.height) == n || (r.width == img.width && r.height == img.height));
    dice::Image cc = dice::center_crop(r, crop, crop);
    DICE_FUZZ_CHECK(cc.width == crop && cc.height == crop);
    dice::Image b = dice::resize_bilinear(img, 1 + data[size - 1] % 17, 1 + data[size - 2] % 13);
    DICE_FUZZ_CHECK(b.rgb.size() == static_cast<size_t>(b.width) * b.height * 3);
  } catch (const dice::Error&) {
  }
  return 0;
}
