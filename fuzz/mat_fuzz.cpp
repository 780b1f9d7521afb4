// libFuzzer target: MATLAB v5 .mat files (formats/mat), as SVHN's test_32x32.mat is read: every
// variable, then each decoded one converted to double.
// The work is in fuzz/targets.h, shared with the regression test.
#include "fuzz/targets.h"

DICE_FUZZ_TARGET(mat)
