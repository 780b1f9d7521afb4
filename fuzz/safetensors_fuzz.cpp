// libFuzzer target: safetensors (formats/safetensors, and formats/json for its header). Whatever
// parses must survive the writer and read back identically.
// The work is in fuzz/targets.h, shared with the regression test.
#include "fuzz/targets.h"

DICE_FUZZ_TARGET(safetensors)
