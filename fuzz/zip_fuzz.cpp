// libFuzzer target: zip archives (formats/zip). Parses the central directory, then reads every
// member (inflate, size and CRC checks), as the torch checkpoint and .npz readers do.
// The work is in fuzz/targets.h, shared with the regression test.
#include "fuzz/targets.h"

DICE_FUZZ_TARGET(zip)
