// libFuzzer target: the data-only unpickler (formats/pickle) with the torch checkpoint allow-list,
// which is what any pickle inside a checkpoint meets. Also renders the result (repr) and looks a
// key up, the two tree walks callers do on untrusted trees; destroying the tree is checked too
// (deep trees must not recurse, cycles must not leak: LeakSanitizer reports them).
#include "formats/pickle.h"
#include "fuzz/fuzz_util.h"
#include "weights/torch_checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    size_t consumed = 0;
    dice::PyRef v = dice::unpickle(data, size, dice::torch_allowed_globals(), "fuzz.pkl", &consumed);
    DICE_FUZZ_CHECK(v && consumed >= 1 && consumed <= size);
    (void)v->repr();
    (void)v->get("state_dict");
  } catch (const dice::Error&) {
  }
  return 0;
}
