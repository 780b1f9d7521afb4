// libFuzzer target: the data-only unpickler (formats/pickle) with the torch checkpoint allow-list,
// which is what any pickle inside a checkpoint meets. Also renders the result (repr) and looks a
// key up, the two tree walks callers do on untrusted trees; destroying the tree is checked too
// (deep trees must not recurse, cycles must not leak: LeakSanitizer reports them).
// The work is in fuzz/targets.h, shared with the regression test.
#include "fuzz/targets.h"

DICE_FUZZ_TARGET(pickle)
