// torchvision's geometric transforms on PIL images, reproduced bit for bit on 8-bit RGB:
// Resize (PIL bilinear with antialiasing) and CenterCrop (with PIL's zero padding when the crop
// is larger than the image). Pillow 9.4's fixed-point algorithm is in resize.cpp.
#pragma once
#include <cstdint>

#include "data/image.h"

namespace dice {

// PIL's Image.resize((out_w, out_h), Image.BILINEAR) over the whole image (Resample.c).
// Returns a copy when the size is unchanged, as PIL does.
Image resize_bilinear(const Image& in, int out_w, int out_h);

// Output size of torchvision's Resize(n) with an int n: the shorter side becomes n, the longer
// int(n * long / short) (Python float division, then truncation).
void resize_shorter_size(int w, int h, int64_t n, int* out_w, int* out_h);

// torchvision Resize(n): resize_bilinear to resize_shorter_size (no-op when already that size).
Image resize_shorter(const Image& in, int64_t n);

// torchvision CenterCrop((crop_h, crop_w)): offsets int(round((H - h) / 2)) with Python's
// round-half-to-even; pads with zeros first (left/top get the smaller half) if the crop is
// larger than the image.
Image center_crop(const Image& in, int64_t crop_h, int64_t crop_w);

}  // namespace dice
