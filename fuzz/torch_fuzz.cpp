// libFuzzer target: torch checkpoints from bytes (weights/torch_checkpoint), both serializations:
// zip (data.pkl + storages) and legacy (five pickles + raw storages). Exercises the walk from the
// unpickled tree to tensor specs and the strided gather, whose indices come from the file.
#include "fuzz/fuzz_util.h"
#include "weights/torch_checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    dice::StateDict sd = dice::load_torch_checkpoint(std::vector<uint8_t>(data, data + size), "fuzz.pt");
    for (const auto& kv : sd.tensors) {
      int64_t n = 1;
      for (int64_t d : kv.second.shape) n *= d;
      DICE_FUZZ_CHECK(static_cast<size_t>(n) == kv.second.data.size());
    }
  } catch (const dice::Error&) {
  }
  return 0;
}
