// The evaluation pre-processing of the DICE reference, torchvision 0.14 semantics:
// Resize(resize) -> CenterCrop(crop) -> ToTensor -> Normalize(mean, std), bit for bit in float32.
#pragma once
#include <cstdint>

#include "data/image.h"

namespace dice {

struct Preprocess {
  int64_t resize = 32, crop = 32;
  // float32, as torchvision's Normalize converts the Python doubles with torch.as_tensor.
  float mean[3] = {0.4914f, 0.4822f, 0.4465f};
  float std[3] = {0.2023f, 0.1994f, 0.2010f};

  // Resize(32), CenterCrop(32), CIFAR mean/std of the reference code.
  static Preprocess cifar();
  // Resize(256), CenterCrop(224), ImageNet mean/std.
  static Preprocess imagenet();
};

// ToTensor + Normalize of one 8-bit value of channel c: (float(v) / 255 - mean) / std, each
// operation rounded to float32 as torch does.
float normalize_value(uint8_t v, int c, const Preprocess& pp);

// Writes 3 x crop x crop floats (CHW) to chw_out. A crop x crop input with resize == crop passes
// Resize and CenterCrop unchanged, as in torchvision.
void preprocess_image(const Image& img, const Preprocess& pp, float* chw_out);

// ToTensor + Normalize only, for an image that already has the output size (crop x crop).
void normalize_image(const Image& img, const Preprocess& pp, float* chw_out);

}  // namespace dice
