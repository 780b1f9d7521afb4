// CIFAR-10 / CIFAR-100 batches in their two official formats, read without Python.
//
// Binary (cifar-10-batches-bin, cifar-100-binary): fixed-size records, no header.
//   CIFAR-10:  <1 label byte><1024 R><1024 G><1024 B>               = 3073 bytes per image
//   CIFAR-100: <1 coarse label><1 fine label><1024 R><1024 G><1024 B> = 3074 bytes per image
//   The layout is told from the file size (a multiple of 3073 or 3074; both only for sizes that
//   are multiples of 3073*3074) and, where the name is the official one (data_batch_N.bin,
//   test_batch.bin vs train.bin, test.bin), from the name. Labels are range-checked, which also
//   catches a file read in the wrong layout. The fine label is the one used for CIFAR-100.
// Python (cifar-10-batches-py, cifar-100-python): one pickled dict, written by Python 2's cPickle
//   (protocol 2, str keys that Python 3 loads as bytes) in the official release; we also accept
//   what Python 3 writes with protocols 2 to 5. Keys: b"data" = numpy uint8 array (N, 3072) in
//   the same planar R/G/B order, and b"labels" (CIFAR-10) or b"fine_labels" (CIFAR-100).
//   The pickle is parsed by formats/pickle with an allow-list of exactly the globals numpy needs
//   (ndarray reconstruction, dtype, and _codecs.encode, which Python 3 uses to store bytes under
//   protocol 2); numpy arrays are then rebuilt here from the value tree.
// Class names come from the files shipped beside the batch when present (batches.meta.txt /
// fine_label_names.txt, or the batches.meta / meta pickles).
// The whole file is held in memory (at most 150 MB for a training batch), so load() is a copy
// and a preprocess, safe from any thread.
#include <algorithm>
#include <cstring>
#include <set>

#include "core/error.h"
#include "core/file_io.h"
#include "data/dataset.h"
#include "data/image.h"
#include "formats/pickle.h"

namespace dice {
namespace {

constexpr int64_t kPixels = 3072;  // 32 * 32 * 3

std::string basename_of(const std::string& path) {
  size_t s = path.find_last_of('/');
  return s == std::string::npos ? path : path.substr(s + 1);
}

std::string dirname_of(const std::string& path) {
  size_t s = path.find_last_of('/');
  return s == std::string::npos ? "." : s == 0 ? "/" : path.substr(0, s);
}

class CifarDataset final : public Dataset {
 public:
  CifarDataset(std::string desc, std::vector<uint8_t> buf, size_t first, size_t stride,
               std::vector<int64_t> labels, std::vector<std::string> classes, const Preprocess& pp)
      : Dataset(pp.crop),
        desc_(std::move(desc)),
        buf_(std::move(buf)),
        first_(first),
        stride_(stride),
        labels_(std::move(labels)),
        classes_(std::move(classes)),
        pp_(pp) {
    DICE_ASSERT(labels_.empty() ||
                first_ + (labels_.size() - 1) * stride_ + kPixels <= buf_.size());
  }

  int64_t size() const override { return static_cast<int64_t>(labels_.size()); }
  int64_t label(int64_t i) const override { return labels_.at(static_cast<size_t>(i)); }
  void load(int64_t i, float* chw) const override {
    DICE_ASSERT(i >= 0 && i < size());
    const uint8_t* p = buf_.data() + first_ + static_cast<size_t>(i) * stride_;
    Image img(32, 32);
    for (int k = 0; k < 1024; ++k)
      for (int c = 0; c < 3; ++c) img.rgb[k * 3 + c] = p[c * 1024 + k];
    preprocess_image(img, pp_, chw);
  }
  std::string describe() const override { return desc_; }
  std::vector<std::string> class_names() const override { return classes_; }

 private:
  std::string desc_;
  std::vector<uint8_t> buf_;
  size_t first_, stride_;
  std::vector<int64_t> labels_;
  std::vector<std::string> classes_;
  Preprocess pp_;
};

// Non-empty lines of a text file, or {} if it is absent.
std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> out;
  if (!file_exists(path) || is_directory(path)) return out;
  std::vector<uint8_t> b = read_file(path);
  std::string cur;
  for (uint8_t ch : b) {
    if (ch == '\n' || ch == '\r') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(static_cast<char>(ch));
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

const std::set<std::string>& numpy_globals() {
  static const std::set<std::string> g = {"numpy.core.multiarray._reconstruct",
                                          "numpy._core.multiarray._reconstruct",
                                          "numpy.core.numeric._frombuffer",
                                          "numpy._core.numeric._frombuffer",
                                          "numpy.ndarray",
                                          "numpy.dtype",
                                          "_codecs.encode"};
  return g;
}

bool is_call(const PyRef& v, const char* a, const char* b) {
  return v && (v->is_call_of(a) || v->is_call_of(b));
}

// The bytes a pickled bytes-like value stands for: bytes/bytearray, a Python 2 str (kept raw by
// the unpickler), or Python 3's protocol-2 spelling _codecs.encode(<unicode>, "latin1").
bool bytes_value(const PyRef& v, std::string* out) {
  if (!v) return false;
  if (v->is(PyValue::Kind::Bytes) || v->is(PyValue::Kind::String)) {
    *out = v->str;
    return true;
  }
  if (v->is_call_of("_codecs.encode") && v->args && v->args->items.size() == 2 &&
      v->args->items[0]->is(PyValue::Kind::String) &&
      v->args->items[1]->is(PyValue::Kind::String)) {
    const std::string& enc = v->args->items[1]->str;
    if (enc != "latin1" && enc != "latin-1" && enc != "iso-8859-1") return false;
    // UTF-8 text whose code points are all < 256 -> one byte each.
    const std::string& s = v->args->items[0]->str;
    out->clear();
    out->reserve(s.size());
    for (size_t i = 0; i < s.size();) {
      uint8_t c = static_cast<uint8_t>(s[i]);
      if (c < 0x80) {
        out->push_back(static_cast<char>(c));
        i += 1;
      } else if ((c & 0xE0) == 0xC0 && i + 1 < s.size()) {
        unsigned cp = (c & 0x1Fu) << 6 | (static_cast<uint8_t>(s[i + 1]) & 0x3Fu);
        if (cp > 0xFF) return false;
        out->push_back(static_cast<char>(cp));
        i += 2;
      } else {
        return false;
      }
    }
    return true;
  }
  return false;
}

// dict[key] where the dict's keys may be str, bytes or encoded bytes.
PyRef dict_get(const PyRef& d, const std::string& key) {
  if (!d || !d->is(PyValue::Kind::Dict)) return nullptr;
  PyRef found;
  std::string k;
  for (const auto& [kk, vv] : d->entries)
    if (bytes_value(kk, &k) && k == key) found = vv;
  return found;
}

int64_t int_value(const PyRef& v, bool* ok) {
  if (v && v->is(PyValue::Kind::Int) && !v->big) return v->i;
  if (v && v->is(PyValue::Kind::Bool)) return v->b ? 1 : 0;
  *ok = false;
  return 0;
}

// A numpy uint8 array: its shape and raw C-order bytes.
struct U8Array {
  std::vector<int64_t> shape;
  std::string bytes;
};

[[noreturn]] void bad_array(const std::string& path, const std::string& why) {
  throw_error(path, ": b'data' is not a numpy uint8 array as CIFAR batches hold (", why,
              "); re-download the python batch");
}

void check_dtype(const PyRef& dt, const std::string& path) {
  std::string descr;
  if (!is_call(dt, "numpy.dtype", "numpy.dtype") || !dt->args || dt->args->items.empty() ||
      !bytes_value(dt->args->items[0], &descr))
    bad_array(path, "no dtype");
  if (descr != "u1" && descr != "|u1" && descr != "uint8" && descr != "B")
    bad_array(path, "dtype " + descr);
}

std::vector<int64_t> shape_of(const PyRef& t, const std::string& path) {
  if (!t || !t->is(PyValue::Kind::Tuple)) bad_array(path, "shape is not a tuple");
  std::vector<int64_t> s;
  for (const PyRef& d : t->items) {
    bool ok = true;
    int64_t v = int_value(d, &ok);
    if (!ok || v < 0) bad_array(path, "bad shape");
    s.push_back(v);
  }
  return s;
}

U8Array numpy_u8(const PyRef& v, const std::string& path) {
  U8Array a;
  if (is_call(v, "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct")) {
    // ndarray.__setstate__((version, shape, dtype, is_fortran, rawdata)); version is optional.
    const PyRef& st = v->state;
    if (!st || !st->is(PyValue::Kind::Tuple)) bad_array(path, "no array state");
    const auto& it = st->items;
    size_t o = it.size() == 5 ? 1 : it.size() == 4 ? 0 : 99;
    if (o == 99) bad_array(path, "array state of " + std::to_string(it.size()) + " items");
    a.shape = shape_of(it[o], path);
    check_dtype(it[o + 1], path);
    bool ok = true;
    if (int_value(it[o + 2], &ok) != 0 || !ok) bad_array(path, "Fortran order");
    if (!bytes_value(it[o + 3], &a.bytes)) bad_array(path, "raw data is " + it[o + 3]->kind_name());
  } else if (is_call(v, "numpy.core.numeric._frombuffer", "numpy._core.numeric._frombuffer")) {
    // _frombuffer(buffer, dtype, shape, order), numpy's protocol-5 form.
    const auto& it = v->args->items;
    if (it.size() != 4) bad_array(path, "bad _frombuffer call");
    if (!bytes_value(it[0], &a.bytes)) bad_array(path, "buffer is " + it[0]->kind_name());
    check_dtype(it[1], path);
    a.shape = shape_of(it[2], path);
    std::string order;
    if (!bytes_value(it[3], &order) || order != "C") bad_array(path, "order " + order);
  } else {
    bad_array(path, v ? "a " + v->kind_name() : "missing");
  }
  int64_t n = 1;
  for (int64_t d : a.shape) {
    if (d > (int64_t(1) << 40)) bad_array(path, "huge shape");
    n *= d;
    if (n > (int64_t(1) << 40)) bad_array(path, "huge shape");
  }
  if (static_cast<int64_t>(a.bytes.size()) != n)
    bad_array(path, std::to_string(a.bytes.size()) + " data bytes for " + std::to_string(n) +
                        " elements");
  return a;
}

std::vector<std::string> string_list(const PyRef& v) {
  std::vector<std::string> out;
  if (!v || !v->is(PyValue::Kind::List)) return {};
  std::string s;
  for (const PyRef& x : v->items) {
    if (!bytes_value(x, &s)) return {};
    out.push_back(s);
  }
  return out;
}

// Class names from a python meta pickle beside the batch; {} if absent or unreadable (names are
// a convenience, never worth failing a run for).
std::vector<std::string> python_meta_names(const std::string& path, const char* key) {
  if (!file_exists(path) || is_directory(path)) return {};
  try {
    std::vector<uint8_t> b = read_file(path);
    return string_list(dict_get(unpickle(b.data(), b.size(), numpy_globals(), path), key));
  } catch (const Error&) {
    return {};
  }
}

}  // namespace

std::unique_ptr<Dataset> open_cifar_binary(const std::string& path, const Preprocess& pp) {
  std::vector<uint8_t> buf = read_file(path);
  const int64_t n = static_cast<int64_t>(buf.size());
  const std::string base = basename_of(path);
  if (n == 0) throw_error(path, ": empty file; re-download the CIFAR binary batch");
  const bool name100 = base == "train.bin" || base == "test.bin";
  const bool name10 = base.rfind("data_batch", 0) == 0 || base.rfind("test_batch", 0) == 0;
  const bool d10 = n % (kPixels + 1) == 0, d100 = n % (kPixels + 2) == 0;
  bool is100;
  if (name100 || name10) {
    is100 = name100;
    if (!(is100 ? d100 : d10))
      throw_error(path, ": ", n, " bytes is not a whole number of ",
                  is100 ? "CIFAR-100" : "CIFAR-10", " records (", is100 ? 3074 : 3073,
                  " bytes each); the file is truncated or damaged: re-download it");
  } else if (d10 != d100) {
    is100 = d100;
  } else if (d10) {
    throw_error(path, ": ", n,
                " bytes fits both CIFAR-10 and CIFAR-100 records; rename the file to "
                "its official name (test_batch.bin for CIFAR-10, test.bin for CIFAR-100)");
  } else {
    throw_error(
        path, ": ", n,
        " bytes is not a whole number of CIFAR-10 (3073-byte) or CIFAR-100 "
        "(3074-byte) records; the file is truncated or not a CIFAR binary batch: re-download it");
  }
  const size_t label_bytes = is100 ? 2 : 1, stride = kPixels + label_bytes;
  const int64_t count = n / static_cast<int64_t>(stride);
  const int64_t nclass = is100 ? 100 : 10;
  std::vector<int64_t> labels(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    const uint8_t* r = buf.data() + static_cast<size_t>(i) * stride;
    if (is100 && r[0] >= 20)
      throw_error(path, ": record ", i, " has coarse label ", int(r[0]),
                  " (CIFAR-100 has 20); the file is damaged or not a CIFAR-100 batch");
    labels[i] = r[label_bytes - 1];
    if (labels[i] >= nclass)
      throw_error(path, ": record ", i, " has label ", labels[i], " but ",
                  is100 ? "CIFAR-100" : "CIFAR-10", " has ", nclass,
                  " classes; the file is damaged or not a CIFAR binary batch");
  }
  std::vector<std::string> names =
      read_lines(dirname_of(path) + (is100 ? "/fine_label_names.txt" : "/batches.meta.txt"));
  if (static_cast<int64_t>(names.size()) != nclass) names.clear();
  std::string desc = std::string(is100 ? "CIFAR-100" : "CIFAR-10") + " binary batch " + path +
                     " (" + std::to_string(nclass) + " classes, " + std::to_string(count) +
                     " images)";
  return std::make_unique<CifarDataset>(desc, std::move(buf), label_bytes, stride,
                                        std::move(labels), std::move(names), pp);
}

std::unique_ptr<Dataset> open_cifar_python(const std::string& path, const Preprocess& pp) {
  PyRef root;
  {
    std::vector<uint8_t> b = read_file(path);
    root = unpickle(b.data(), b.size(), numpy_globals(), path);
  }
  if (!root->is(PyValue::Kind::Dict))
    throw_error(path, ": the pickle holds a ", root->kind_name(),
                ", not the dict of a CIFAR python batch; pass a data_batch_N, test_batch, train or "
                "test file");
  PyRef data = dict_get(root, "data");
  PyRef fine = dict_get(root, "fine_labels");
  PyRef lab = fine ? fine : dict_get(root, "labels");
  if (!data || !lab)
    throw_error(path,
                ": no b'data' and b'labels'/b'fine_labels' entries; this is not a CIFAR "
                "python batch (the meta file 'batches.meta'/'meta' holds only class names)");
  const bool is100 = fine != nullptr;
  U8Array arr = numpy_u8(data, path);
  if (arr.shape.size() != 2 || arr.shape[1] != kPixels)
    throw_error(path, ": b'data' has shape ",
                arr.shape.size() == 2
                    ? std::to_string(arr.shape[0]) + "x" + std::to_string(arr.shape[1])
                    : std::to_string(arr.shape.size()) + "-d",
                ", expected (N, 3072); re-download the python batch");
  const int64_t count = arr.shape[0];
  if (!lab->is(PyValue::Kind::List) || static_cast<int64_t>(lab->items.size()) != count)
    throw_error(path, ": the labels are not a list of ", count,
                " ints; re-download the python batch");
  const int64_t nclass = is100 ? 100 : 10;
  std::vector<int64_t> labels(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    bool ok = true;
    labels[i] = int_value(lab->items[static_cast<size_t>(i)], &ok);
    if (!ok || labels[i] < 0 || labels[i] >= nclass)
      throw_error(path, ": label ", i, " is not in 0..", nclass - 1,
                  "; re-download the python batch");
  }
  std::vector<uint8_t> buf(arr.bytes.begin(), arr.bytes.end());
  arr.bytes.clear();
  root.reset();
  std::vector<std::string> names =
      is100 ? python_meta_names(dirname_of(path) + "/meta", "fine_label_names")
            : python_meta_names(dirname_of(path) + "/batches.meta", "label_names");
  if (static_cast<int64_t>(names.size()) != nclass) names.clear();
  std::string desc = std::string(is100 ? "CIFAR-100" : "CIFAR-10") + " python batch " + path +
                     " (" + std::to_string(nclass) + " classes, " + std::to_string(count) +
                     " images)";
  return std::make_unique<CifarDataset>(desc, std::move(buf), 0, kPixels, std::move(labels),
                                        std::move(names), pp);
}

}  // namespace dice
