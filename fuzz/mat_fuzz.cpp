// libFuzzer target: MATLAB v5 .mat files (formats/mat), as SVHN's test_32x32.mat is read: every
// variable, then each decoded one converted to double.
#include "formats/mat.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    std::vector<dice::MatArray> arrays = dice::parse_mat(data, size, "fuzz.mat");
    for (const dice::MatArray& a : arrays) {
      if (!a.decoded) continue;
      std::vector<double> d = dice::mat_to_double(a, "fuzz.mat");
      DICE_FUZZ_CHECK(static_cast<int64_t>(d.size()) == a.numel());
    }
  } catch (const dice::Error&) {
  }
  return 0;
}
