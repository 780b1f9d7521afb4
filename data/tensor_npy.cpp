// The `tensor:FILE.npy` data set: images some other tool has already pre-processed (torchvision,
// OpenOOD, a numpy pipeline), fed to the network exactly as they are, so that two
// implementations of a network can be compared on identical inputs.
// - FILE.npy: float32 ('<f4'), C order, shape (N, 3, S, S); S must be the model's input size
//   (the crop: 32 for the CIFAR DenseNet, 224 for ResNet-50). No resize, crop or normalization.
// - Labels, optional: FILE.labels.npy beside it (FILE = the path without ".npy"), integer (N,)
//   (int64 as `dice features` writes it; int32 accepted); without it every label is -1. These
//   are the names `dice features --out X` gives its outputs (X.labels.npy); when X.dice-set is
//   there the labels must belong to that set (core/file_set.h).
// The whole array is held in memory (600 kB per 224x224 image): the spec is meant for
// comparisons on hundreds or thousands of images, not for a 50,000-image validation set.
#include <cstring>

#include "core/echo.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/file_set.h"
#include "data/dataset.h"
#include "formats/npy.h"

namespace dice {
namespace {

class TensorDataset final : public Dataset {
 public:
  TensorDataset(std::string path, NpyArray x, std::vector<int64_t> labels, int64_t s)
      : Dataset(s), path_(std::move(path)), x_(std::move(x)), labels_(std::move(labels)) {}

  int64_t size() const override { return static_cast<int64_t>(labels_.size()); }
  int64_t label(int64_t i) const override { return labels_.at(static_cast<size_t>(i)); }
  void load(int64_t i, float* chw) const override {
    DICE_ASSERT(i >= 0 && i < size());
    const size_t n = static_cast<size_t>(3 * image_size_ * image_size_);
    std::memcpy(chw, x_.data.data() + static_cast<size_t>(i) * n * 4, n * 4);
  }
  std::string describe() const override {
    return "tensor " + path_ + " (" + std::to_string(labels_.size()) + " images, 3x" +
           std::to_string(image_size_) + "x" + std::to_string(image_size_) + ")";
  }

 private:
  std::string path_;
  NpyArray x_;
  std::vector<int64_t> labels_;
};

std::string shape_text(const std::vector<int64_t>& s) {
  std::string t = "(";
  for (size_t k = 0; k < s.size(); ++k) t += (k ? ", " : "") + std::to_string(s[k]);
  return t + (s.size() == 1 ? ",)" : ")");
}

}  // namespace

std::unique_ptr<Dataset> open_tensor_npy(const std::string& path, const Preprocess& pp,
                                         int64_t num_classes) {
  if (path.empty()) throw_error("tensor: needs a file, e.g. tensor:inputs.npy");
  if (!file_exists(path) || is_directory(path))
    throw_error(path, ": no such .npy file (from the spec tensor:", path,
                "); pass a float32 N x 3 x S x S array written by numpy.save");
  NpyArray x = read_npy(path);
  if (x.descr != "<f4")
    throw_error(path, ": tensor: needs float32 data, got dtype '", x.descr,
                "'; save it with numpy.save(path, x.astype(numpy.float32))");
  const auto& s = x.shape;
  if (s.size() != 4 || s[1] != 3 || s[2] != s[3])
    throw_error(path, ": tensor: needs shape (N, 3, S, S) (pre-processed CHW images), got ",
                shape_text(s), "; transpose or stack the images first");
  if (s[2] != pp.crop)
    throw_error(path, ": images are ", s[2], "x", s[3], " but the model takes ", pp.crop, "x",
                pp.crop, "; pre-process them to the model's input size (e.g. CenterCrop(", pp.crop,
                "))");
  const int64_t n = s[0];
  std::vector<int64_t> labels(static_cast<size_t>(n), -1);
  std::string base = path;
  if (base.size() > 4 && base.compare(base.size() - 4, 4, ".npy") == 0)
    base.resize(base.size() - 4);
  const std::string lpath = base + ".labels.npy";
  if (lpath != path && file_exists(lpath)) {
    const std::vector<uint8_t> lb = read_set_member(base, lpath);  // refuses a mixed features set
    NpyArray l = parse_npy(lb.data(), lb.size(), lpath);
    if (l.descr != "<i8" && l.descr != "<i4")
      throw_error(lpath, ": labels must be integers (int64), got dtype '", l.descr,
                  "'; save them with numpy.save(path, y.astype(numpy.int64))");
    if (l.shape.size() != 1 || l.shape[0] != n)
      throw_error(lpath, ": labels have shape ", shape_text(l.shape), " but ", path, " holds ", n,
                  " images; expected (", n, ",)");
    for (int64_t i = 0; i < n; ++i) {
      int64_t v;
      if (l.descr == "<i8") {
        std::memcpy(&v, l.data.data() + i * 8, 8);
      } else {
        int32_t v32;
        std::memcpy(&v32, l.data.data() + i * 4, 4);
        v = v32;
      }
      if (v < -1)
        throw_error(echo(lpath), ": label ", v, " at index ", i, " is negative (use -1 for unlabeled)");
      if (num_classes > 0 && v >= num_classes)
        throw_error(echo(lpath), ": label ", v, " at index ", i, " is outside [0, ", num_classes,
                    ") for this model's classes; fix the labels or use the matching model");
      labels[static_cast<size_t>(i)] = v;
    }
  }
  return std::make_unique<TensorDataset>(path, std::move(x), std::move(labels), s[2]);
}

}  // namespace dice
