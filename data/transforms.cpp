// Resize -> CenterCrop -> ToTensor -> Normalize (see transforms.h).
// ToTensor is torch's x.float().div(255): a correctly rounded float32 division (not a multiply
// by 1/255, which differs in the last bit for some values). Normalize is tensor.sub_(mean)
// .div_(std) with float32 mean and std: two rounded float32 operations, not a fused (x-m)*(1/s).
// (Never build this file with -ffast-math.) Since the whole map depends only on (value, channel),
// it is tabulated per call: 768 entries.
#include "data/transforms.h"

#include "core/error.h"
#include "data/resize.h"

namespace dice {

Preprocess Preprocess::cifar() { return Preprocess{}; }

Preprocess Preprocess::imagenet() {
  Preprocess p;
  p.resize = 256;
  p.crop = 224;
  const float m[3] = {0.485f, 0.456f, 0.406f}, s[3] = {0.229f, 0.224f, 0.225f};
  for (int c = 0; c < 3; ++c) {
    p.mean[c] = m[c];
    p.std[c] = s[c];
  }
  return p;
}

float normalize_value(uint8_t v, int c, const Preprocess& pp) {
  const float x = static_cast<float>(v) / 255.0f;
  return (x - pp.mean[c]) / pp.std[c];
}

void normalize_image(const Image& img, const Preprocess& pp, float* chw_out) {
  DICE_ASSERT(img.width == pp.crop && img.height == pp.crop);
  float table[3][256];
  for (int c = 0; c < 3; ++c)
    for (int v = 0; v < 256; ++v) table[c][v] = normalize_value(static_cast<uint8_t>(v), c, pp);
  const size_t plane = static_cast<size_t>(img.width) * img.height;
  const uint8_t* p = img.rgb.data();
  for (size_t i = 0; i < plane; ++i) {
    chw_out[i] = table[0][p[i * 3 + 0]];
    chw_out[plane + i] = table[1][p[i * 3 + 1]];
    chw_out[2 * plane + i] = table[2][p[i * 3 + 2]];
  }
}

void preprocess_image(const Image& img, const Preprocess& pp, float* chw_out) {
  if (pp.crop <= 0 || pp.resize <= 0)
    throw_error("preprocess: resize ", pp.resize, " and crop ", pp.crop, " must be positive");
  const Image* cur = &img;
  Image resized, cropped;
  int w, h;
  resize_shorter_size(img.width, img.height, pp.resize, &w, &h);
  if (w != img.width || h != img.height) {
    resized = resize_bilinear(img, w, h);
    cur = &resized;
  }
  if (cur->width != pp.crop || cur->height != pp.crop) {
    cropped = center_crop(*cur, pp.crop, pp.crop);
    cur = &cropped;
  }
  normalize_image(*cur, pp, chw_out);
}

}  // namespace dice
