// libFuzzer target: image decoding (data/image.cpp over stb_image: JPEG, PNG, BMP, PNM) from
// memory, then Resize / CenterCrop / bilinear resize (data/resize.cpp); see fuzz/targets.h,
// which also explains the 2^16-pixel decoding limit the target runs under.
#include "fuzz/targets.h"

DICE_FUZZ_TARGET(image)
