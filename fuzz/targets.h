// What each fuzz target does with one input, shared by the libFuzzer programs (fuzz/*_fuzz.cpp,
// which only add the entry point) and by the regression test that replays committed crash
// inputs (tests/formats/fuzz_regression_test.cpp). Each function feeds the bytes to one parser
// and lets dice::Error (the documented rejection of bad input) propagate; anything else (another
// exception, an abort, a sanitizer report, a leak, a hang) is a bug. DICE_FUZZ_CHECK adds the
// targets' own oracles, e.g. that a write-then-read round trip is exact.
#pragma once
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/dataset.h"
#include "data/image.h"
#include "data/resize.h"
#include "formats/json.h"
#include "formats/mat.h"
#include "formats/npy.h"
#include "formats/pickle.h"
#include "formats/safetensors.h"
#include "formats/zip.h"
#include "weights/torch_checkpoint.h"

#define DICE_FUZZ_CHECK(cond)                                                              \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "%s:%d: fuzz oracle failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)

// The libFuzzer entry point of target NAME: dice::Error is the expected outcome for bad input.
#define DICE_FUZZ_TARGET(NAME)                                                    \
  extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {      \
    try {                                                                         \
      dice_fuzz::NAME(data, size);                                                \
    } catch (const dice::Error&) {                                                \
    }                                                                             \
    return 0;                                                                     \
  }

namespace dice_fuzz {

// A private scratch folder for the parsers that only take a path (the CIFAR readers): made once
// per process under $TMPDIR, removed at exit.
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    const char* t = std::getenv("TMPDIR");
    std::string tmpl = std::string(t && *t ? t : "/tmp") + "/dice-fuzz-XXXXXX";
    if (!::mkdtemp(&tmpl[0])) {
      std::perror("mkdtemp");
      std::abort();
    }
    return tmpl;
  }();
  static const bool cleanup = [] {
    std::atexit([] {
      for (const char* f : {"data_batch_1.bin", "test.bin", "batch.bin", "test_batch.bin",
                            "data_batch_1", "batches.meta", "meta"})
        ::unlink((dir + "/" + f).c_str());
      ::rmdir(dir.c_str());
    });
    return true;
  }();
  (void)cleanup;
  return dir;
}

// Writes bytes to scratch_dir()/name (replacing it) and returns the path.
inline std::string write_scratch(const std::string& name, const uint8_t* data, size_t size) {
  std::string path = scratch_dir() + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || (size && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) {
    std::perror(path.c_str());
    std::abort();
  }
  return path;
}

// Zip archives (formats/zip): the central directory, then every member (inflate, size, CRC), as
// the torch checkpoint and .npz readers use them. One bad member does not stop the others.
inline void zip(const uint8_t* data, size_t size) {
  dice::ZipArchive z = dice::ZipArchive::from_bytes(std::vector<uint8_t>(data, data + size), "fuzz.zip");
  for (const std::string& n : z.names()) {
    DICE_FUZZ_CHECK(z.has(n));
    try {
      std::vector<uint8_t> m = z.read(n);
      DICE_FUZZ_CHECK(m.size() == z.entry(n).uncompressed_size);
    } catch (const dice::Error&) {
    }
  }
}

// The data-only unpickler with the torch checkpoint allow-list, which is what any pickle inside
// a checkpoint meets; then the two walks callers do on untrusted trees (repr, key lookup).
// Destroying the tree is part of the test: deep trees must not recurse, cycles must not leak.
inline void pickle(const uint8_t* data, size_t size) {
  size_t consumed = 0;
  dice::PyRef v = dice::unpickle(data, size, dice::torch_allowed_globals(), "fuzz.pkl", &consumed);
  DICE_FUZZ_CHECK(v && consumed >= 1 && consumed <= size);
  (void)v->repr();
  (void)v->get("state_dict");
}

// torch checkpoints from bytes, both serializations (zip: data.pkl + storages; legacy: five
// pickles + raw storages): the walk to tensor specs and the strided gather.
inline void torch(const uint8_t* data, size_t size) {
  dice::StateDict sd = dice::load_torch_checkpoint(std::vector<uint8_t>(data, data + size), "fuzz.pt");
  for (const auto& kv : sd.tensors) {
    int64_t n = 1;
    for (int64_t d : kv.second.shape) n *= d;
    DICE_FUZZ_CHECK(static_cast<size_t>(n) == kv.second.data.size());
  }
}

// .npy: whatever parses converts to double and writes back to bytes that parse identically.
inline void npy(const uint8_t* data, size_t size) {
  dice::NpyArray a = dice::parse_npy(data, size, "fuzz.npy");
  std::vector<double> d = dice::npy_to_double(a, "fuzz.npy");
  DICE_FUZZ_CHECK(static_cast<int64_t>(d.size()) == a.numel());
  std::vector<uint8_t> again = dice::serialize_npy(a, "fuzz.npy");
  dice::NpyArray b = dice::parse_npy(again.data(), again.size(), "fuzz.npy (rewritten)");
  DICE_FUZZ_CHECK(a.descr == b.descr && a.shape == b.shape && a.data == b.data);
}

// safetensors (and formats/json for its header): whatever parses survives the writer.
inline void safetensors(const uint8_t* data, size_t size) {
  (void)dice::is_safetensors(data, size);
  dice::SafeTensorsFile f = dice::parse_safetensors(data, size, "fuzz.safetensors");
  if (f.tensors.count("__metadata__")) return;  // legal to read, refused by the writer
  std::vector<uint8_t> again = dice::serialize_safetensors(f, "fuzz.safetensors");
  dice::SafeTensorsFile g = dice::parse_safetensors(again.data(), again.size(), "rewritten");
  DICE_FUZZ_CHECK(f.metadata == g.metadata && f.tensors.size() == g.tensors.size());
  for (const auto& kv : f.tensors) {
    const dice::SafeTensor& t = g.tensors.at(kv.first);
    DICE_FUZZ_CHECK(t.dtype == kv.second.dtype && t.shape == kv.second.shape && t.data == kv.second.data);
  }
}

// JSON: a parsed document dumps (compact and pretty) to text that parses back to the same dump.
inline void json(const uint8_t* data, size_t size) {
  dice::Json j = dice::Json::parse(std::string(reinterpret_cast<const char*>(data), size), "fuzz.json");
  std::string once = j.dump();
  DICE_FUZZ_CHECK(dice::Json::parse(once, "dumped").dump() == once);
  DICE_FUZZ_CHECK(dice::Json::parse(j.dump(2), "pretty").dump() == once);
}

// MATLAB v5 .mat (formats/mat), as SVHN's test_32x32.mat is read: every variable, then each
// decoded one converted to double.
inline void mat(const uint8_t* data, size_t size) {
  std::vector<dice::MatArray> arrays = dice::parse_mat(data, size, "fuzz.mat");
  for (const dice::MatArray& a : arrays) {
    if (!a.decoded) continue;
    // The element bytes agree with the class (logical arrays included: they read as uint8).
    const size_t es = dice::mat_class_size(a.class_name);
    DICE_FUZZ_CHECK(es > 0 && a.data.size() == static_cast<size_t>(a.numel()) * es);
    std::vector<double> d = dice::mat_to_double(a, "fuzz.mat");
    DICE_FUZZ_CHECK(static_cast<int64_t>(d.size()) == a.numel());
  }
}

// Loads the first and the last image of a data set, preprocessed as the evaluation does.
inline void load_ends(const dice::Dataset& ds, const dice::Preprocess& pp) {
  std::vector<float> chw(static_cast<size_t>(3 * pp.crop * pp.crop));
  for (int64_t i : {int64_t(0), ds.size() - 1}) {
    if (i < 0) continue;
    ds.load(i, chw.data());
    (void)ds.label(i);
  }
  (void)ds.describe();
  (void)ds.class_names();
}

// CIFAR binary batches (data/cifar.cpp). The reader takes a path and tells the layout partly
// from the file name, so the first byte picks the name the rest is written under.
inline void cifar_bin(const uint8_t* data, size_t size) {
  if (size < 1) return;
  static const char* names[] = {"data_batch_1.bin", "test.bin", "batch.bin", "test_batch.bin"};
  std::string path = write_scratch(names[data[0] % 4], data + 1, size - 1);
  dice::Preprocess pp = dice::Preprocess::cifar();
  load_ends(*dice::open_cifar_binary(path, pp), pp);
}

// CIFAR python batches (data/cifar.cpp): a pickled dict holding a numpy array. When the first
// byte is odd the same bytes also serve as the class-name pickles (batches.meta, meta) that the
// reader looks for beside the batch.
inline void cifar_py(const uint8_t* data, size_t size) {
  if (size < 1) return;
  std::string path = write_scratch("data_batch_1", data + 1, size - 1);
  for (const char* meta : {"batches.meta", "meta"}) {
    if (data[0] & 1) write_scratch(meta, data + 1, size - 1);
    else ::unlink((scratch_dir() + "/" + meta).c_str());
  }
  dice::Preprocess pp = dice::Preprocess::cifar();
  load_ends(*dice::open_cifar_python(path, pp), pp);
}

// Image decoding from memory (data/image.cpp over stb_image), then torchvision's geometry
// (data/resize.cpp): Resize(n), CenterCrop and a free bilinear resize, sizes from the last bytes.
// resize.cpp refuses outputs over 2 * 89478485 pixels (PIL's limit) before allocating: those
// must throw dice::Error. Outputs between 2^24 pixels and that limit are legal but too slow to
// fuzz, and skipped.
inline void image(const uint8_t* data, size_t size) {
  if (size < 2) return;
  // Images over 2^16 pixels (256 x 256) are refused by the decoder's own limit here: at PIL's
  // 179-megapixel default a 500-byte JPEG header can cost seconds and gigabytes per run, which
  // makes fuzzing crawl without reaching new code. Every decoder and resize path is reachable
  // below 2^16, the resize area cap too (a 1 x 65536 image to shorter side 64); the limit's own
  // check is tested in tests/data/image_test.cpp.
  struct PixelLimit {
    int64_t before = dice::max_image_pixels();
    PixelLimit() { dice::set_max_image_pixels(int64_t(1) << 16); }
    ~PixelLimit() { dice::set_max_image_pixels(before); }
  } limit;
  const int n = 1 + data[size - 1] % 64, crop = 1 + data[size - 2] % 64;
  dice::Image img = dice::decode_image_memory(data, size, "fuzz.img");
  DICE_FUZZ_CHECK(img.rgb.size() == static_cast<size_t>(img.width) * img.height * 3);
  int w = 0, h = 0;
  dice::resize_shorter_size(img.width, img.height, n, &w, &h);
  const int64_t area = static_cast<int64_t>(w) * h;
  if (area > 2 * int64_t(89478485)) {
    bool refused = false;
    try {
      (void)dice::resize_shorter(img, n);
    } catch (const dice::Error&) {
      refused = true;
    }
    DICE_FUZZ_CHECK(refused);
  } else if (area <= (int64_t(1) << 24)) {
    dice::Image r = dice::resize_shorter(img, n);
    DICE_FUZZ_CHECK(r.width == w && r.height == h);
    dice::Image cc = dice::center_crop(r, crop, crop);
    DICE_FUZZ_CHECK(cc.width == crop && cc.height == crop);
  }
  dice::Image b = dice::resize_bilinear(img, 1 + data[size - 1] % 17, 1 + data[size - 2] % 13);
  DICE_FUZZ_CHECK(b.rgb.size() == static_cast<size_t>(b.width) * b.height * 3);
}

struct Target {
  const char* name;
  void (*run)(const uint8_t*, size_t);
};
inline const std::vector<Target>& all_targets() {
  static const std::vector<Target> t = {{"zip", zip},   {"pickle", pickle},   {"torch", torch},
                                        {"npy", npy},   {"safetensors", safetensors},
                                        {"json", json}, {"mat", mat},       {"cifar_bin", cifar_bin},
                                        {"cifar_py", cifar_py}, {"image", image}};
  return t;
}

}  // namespace dice_fuzz
