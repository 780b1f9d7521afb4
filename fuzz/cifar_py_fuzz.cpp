// libFuzzer target: CIFAR-10/100 python batches (data/cifar.cpp): a pickled dict holding a numpy
// array, rebuilt from the unpickled tree. The reader takes a path, so the input is written to a
// private scratch folder; when its first byte is odd the same bytes are also written as the
// class-name files (batches.meta, meta) the reader looks for beside the batch.
// The work is in fuzz/targets.h, shared with the regression test.
#include "fuzz/targets.h"

DICE_FUZZ_TARGET(cifar_py)
