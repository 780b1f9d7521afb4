// libFuzzer target: .npy arrays (formats/npy). Whatever parses must convert to double and write
// back to bytes that parse to the same array (the writer is the one `dice features` uses).
// The work is in fuzz/targets.h, shared with the regression test.
#include "fuzz/targets.h"

DICE_FUZZ_TARGET(npy)
