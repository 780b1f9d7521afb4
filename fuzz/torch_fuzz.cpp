// libFuzzer target: torch checkpoints from bytes (weights/torch_checkpoint), both serializations:
// zip (data.pkl + storages) and legacy (five pickles + raw storages). Exercises the walk from the
// unpickled tree to tensor specs and the strided gather, whose indices come from the file.
// The work is in fuzz/targets.h, shared with the regression test.
#include "fuzz/targets.h"

DICE_FUZZ_TARGET(torch)
