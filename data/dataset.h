// Data sets as the evaluation sees them: indexable, labelled (or not) images already
// pre-processed to 3 x crop x crop float32 (CHW). open_dataset picks the reader from a spec:
//   <folder>          ImageFolder: one sub-folder per class (torchvision's rules, see
//                     dataset.cpp); a folder with no sub-folders at all but images directly
//                     inside is one unlabeled set (labels -1).
//   <file>.bin        CIFAR-10 / CIFAR-100 binary batch (data_batch_N.bin, test_batch.bin,
//                     train.bin, test.bin).
//   <pickle file>     CIFAR-10 / CIFAR-100 python batch (data_batch_N, test_batch, train, test).
//   <file>.mat        SVHN's test_32x32.mat / train_32x32.mat (MATLAB v5: X uint8 32x32x3xN,
//                     y double Nx1 with 10 meaning digit 0); see svhn.cpp.
//   tensor:<file>.npy pre-processed float32 N x 3 x S x S, fed to the network as it is (S must be
//                     the model's input size); labels from <file>.labels.npy beside it (int64
//                     (N,), optional: -1 otherwise), the names `dice features --out X` writes.
//   ILSVRC-2012: train/ and val/ with <wnid> sub-folders are ImageFolders (label = rank of the
//                     wnid in sorted order, the torchvision/ImageNet-1k class index); the flat
//                     val folder of ILSVRC2012_val_*.JPEG takes DatasetOptions::labels.
//   gaussian:N[:SEED] N synthetic images, pixels N(0.5, 1) clipped to [0, 1], then Normalize.
//   uniform:N[:SEED]  N synthetic images, pixels U[0, 1), then Normalize.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "data/transforms.h"

namespace dice {

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual int64_t label(int64_t i) const = 0;          // -1 when the set has no labels
  virtual void load(int64_t i, float* chw) const = 0;  // 3*crop*crop floats; thread-safe
  virtual std::string describe() const = 0;  // e.g. "ImageFolder /x (10 classes, 10000 images)"
  virtual std::vector<std::string> class_names() const { return {}; }
  int64_t image_size() const { return image_size_; }  // crop: images are image_size^2 per channel

 protected:
  Dataset() = default;
  explicit Dataset(int64_t image_size) : image_size_(image_size) {}
  int64_t image_size_ = 32;
};

// Options that only some specs take.
struct DatasetOptions {
  // A ground-truth file for a flat folder of images (no class sub-folders): one line per image,
  // "<file name> <class index>", e.g. "ILSVRC2012_val_00000001.JPEG 65" (see read_labels_file).
  std::string labels;
  // When positive, the labels of a tensor: set or a --labels file must lie in [0, num_classes)
  // (or be -1, unlabeled); the error names the labels file and the first bad index or image.
  int64_t num_classes = 0;
};

// Opens the data set a spec names (see above); throws dice::Error naming the path and the fix.
std::unique_ptr<Dataset> open_dataset(const std::string& spec, const Preprocess& pp,
                                      const DatasetOptions& opts = {});

// The individual readers, for callers that know what they hold.
// labels_file: see DatasetOptions::labels (only for a flat folder; empty = none).
std::unique_ptr<Dataset> open_image_folder(const std::string& dir, const Preprocess& pp,
                                           const std::string& labels_file = "",
                                           int64_t num_classes = 0);
std::unique_ptr<Dataset> open_svhn_mat(const std::string& path, const Preprocess& pp);
// path is the .npy file (without the "tensor:" prefix).
std::unique_ptr<Dataset> open_tensor_npy(const std::string& path, const Preprocess& pp,
                                         int64_t num_classes = 0);
// "<name> <label>" lines -> map from file name to label; throws naming the file and the line.
std::vector<std::pair<std::string, int64_t>> read_labels_file(const std::string& path);
std::unique_ptr<Dataset> open_cifar_binary(const std::string& path, const Preprocess& pp);
std::unique_ptr<Dataset> open_cifar_python(const std::string& path, const Preprocess& pp);
// kind is "gaussian" or "uniform".
std::unique_ptr<Dataset> make_synthetic(const std::string& kind, int64_t n, uint64_t seed,
                                        const Preprocess& pp);

// The default seed of gaussian:N and uniform:N.
constexpr uint64_t kSyntheticSeed = 0;

// True if a file name has one of torchvision's IMG_EXTENSIONS (case-insensitive).
bool has_image_extension(const std::string& name);

}  // namespace dice
