// libFuzzer target: CIFAR-10/100 python batches (data/cifar.cpp): a pickled dict holding a numpy
// array, rebuilt from the unpickled tree. The reader takes a path, so the input is written to a
// private scratch folder; when its first byte is odd the same bytes are also written as the
// class-name files (batches.meta, meta) the reader looks for beside the batch.
#include <unistd.h>

#include "data/dataset.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  bool with_meta = data[0] & 1;
  std::string path = dice_fuzz::write_scratch("data_batch_1", data + 1, size - 1);
  for (const char* meta : {"batches.meta", "meta"}) {
    if (with_meta) dice_fuzz::write_scratch(meta, data + 1, size - 1);
    else ::unlink((dice_fuzz::scratch_dir() + "/" + meta).c_str());
  }
  try {
    dice::Preprocess pp = dice::Preprocess::cifar();
    std::unique_ptr<dice::Dataset> ds = dice::open_cifar_python(path, pp);
    std::vector<float> chw(static_cast<size_t>(3 * pp.crop * pp.crop));
    for (int64_t i : {int64_t(0), ds->size() - 1}) {
      if (i < 0) continue;
      ds->load(i, chw.data());
      (void)ds->label(i);
    }
    (void)ds->class_names();
  } catch (const dice::Error&) {
  }
  return 0;
}
