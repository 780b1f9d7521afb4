// libFuzzer target: safetensors (formats/safetensors, and formats/json for its header). Whatever
// parses must survive the writer and read back identically.
#include "formats/safetensors.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)dice::is_safetensors(data, size);
  try {
    dice::SafeTensorsFile f = dice::parse_safetensors(data, size, "fuzz.safetensors");
    bool keyed_metadata = f.tensors.count("__metadata__") != 0;  // cannot be written back
    if (keyed_metadata) return 0;
    std::vector<uint8_t> again = dice::serialize_safetensors(f, "fuzz.safetensors");
    dice::SafeTensorsFile g = dice::parse_safetensors(again.data(), again.size(), "rewritten");
    DICE_FUZZ_CHECK(f.metadata == g.metadata && f.tensors.size() == g.tensors.size());
    for (const auto& kv : f.tensors) {
      const dice::SafeTensor& t = g.tensors.at(kv.first);
      DICE_FUZZ_CHECK(t.dtype == kv.second.dtype && t.shape == kv.second.shape && t.data == kv.second.data);
    }
  } catch (const dice::Error&) {
  }
  return 0;
}
