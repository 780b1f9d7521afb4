// libFuzzer target: CIFAR-10/100 binary batches (data/cifar.cpp). The reader takes a path and
// tells the layout partly from the file name, so the first byte picks the name the rest of the
// input is written under (in a private scratch folder); then the first and last image are loaded
// and preprocessed as the evaluation does.
#include "data/dataset.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const char* names[] = {"data_batch_1.bin", "test.bin", "batch.bin", "test_batch.bin"};
  std::string path = dice_fuzz::write_scratch(names[data[0] % 4], data + 1, size - 1);
  try {
    dice::Preprocess pp = dice::Preprocess::cifar();
    std::unique_ptr<dice::Dataset> ds = dice::open_cifar_binary(path, pp);
    std::vector<float> chw(static_cast<size_t>(3 * pp.crop * pp.crop));
    for (int64_t i : {int64_t(0), ds->size() - 1}) {
      if (i < 0) continue;
      ds->load(i, chw.data());
      (void)ds->label(i);
    }
    (void)ds->describe();
  } catch (const dice::Error&) {
  }
  return 0;
}
