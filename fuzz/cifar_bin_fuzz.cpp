// libFuzzer target: CIFAR-10/100 binary batches (data/cifar.cpp). The reader takes a path and
// tells the layout partly from the file name, so the first byte picks the name the rest of the
// input is written under (in a private scratch folder); then the first and last image are loaded
// and preprocessed as the evaluation does.
// The work is in fuzz/targets.h, shared with the regression test.
#include "fuzz/targets.h"

DICE_FUZZ_TARGET(cifar_bin)
