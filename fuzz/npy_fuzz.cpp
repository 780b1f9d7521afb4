// libFuzzer target: .npy arrays (formats/npy). Whatever parses must convert to double and write
// back to bytes that parse to the same array (the writer is the one `dice features` uses).
#include "formats/npy.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    dice::NpyArray a = dice::parse_npy(data, size, "fuzz.npy");
    std::vector<double> d = dice::npy_to_double(a, "fuzz.npy");
    DICE_FUZZ_CHECK(static_cast<int64_t>(d.size()) == a.numel());
    std::vector<uint8_t> again = dice::serialize_npy(a, "fuzz.npy");
    dice::NpyArray b = dice::parse_npy(again.data(), again.size(), "fuzz.npy (rewritten)");
    DICE_FUZZ_CHECK(a.descr == b.descr && a.shape == b.shape && a.data == b.data);
  } catch (const dice::Error&) {
  }
  return 0;
}
