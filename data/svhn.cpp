// SVHN (The Street View House Numbers, cropped-digits format): test_32x32.mat, train_32x32.mat
// and extra_32x32.mat, the paper's SVHN OOD set for the CIFAR networks. MATLAB v5 files read by
// formats/mat.h: X uint8 (32, 32, 3, N) and y double (N, 1) with 10 meaning digit 0.
// X is column-major: pixel (row r, column c, channel k) of image n is byte
// r + 32*c + 1024*k + 3072*n, so an image is gathered with a stride, not copied as a block.
// MATLAB drops trailing singleton dimensions, so a one-image file has X of dims (32, 32, 3).
// Other heights and widths are accepted (H, W, 3, N), the pre-processing makes them crop x crop.
// A file without y is one unlabeled set (-1), since OOD use does not need the labels.
// Labels: digit d in 1..9 is class d, 10 is class 0 (torchvision's datasets.SVHN does the same);
// any other value is refused as a sign of a different file.
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "data/dataset.h"
#include "data/image.h"
#include "formats/mat.h"

namespace dice {
namespace {

class SvhnDataset final : public Dataset {
 public:
  SvhnDataset(std::string path, MatArray x, int64_t h, int64_t w, std::vector<int64_t> labels,
              const Preprocess& pp)
      : Dataset(pp.crop),
        path_(std::move(path)),
        x_(std::move(x)),
        h_(h),
        w_(w),
        labels_(std::move(labels)),
        pp_(pp) {}

  int64_t size() const override { return static_cast<int64_t>(labels_.size()); }
  int64_t label(int64_t i) const override { return labels_.at(static_cast<size_t>(i)); }
  void load(int64_t i, float* chw) const override {
    DICE_ASSERT(i >= 0 && i < size());
    const size_t plane = static_cast<size_t>(h_ * w_);
    const uint8_t* p = x_.data.data() + static_cast<size_t>(i) * 3 * plane;
    Image img(static_cast<int>(w_), static_cast<int>(h_));
    for (int64_t r = 0; r < h_; ++r)
      for (int64_t c = 0; c < w_; ++c)
        for (int k = 0; k < 3; ++k)
          img.rgb[static_cast<size_t>((r * w_ + c) * 3 + k)] =
              p[static_cast<size_t>(r + h_ * c) + plane * static_cast<size_t>(k)];
    preprocess_image(img, pp_, chw);
  }
  std::string describe() const override {
    return "SVHN " + path_ + " (" + std::to_string(labels_.size()) + " images" +
           (labels_.empty() || labels_[0] >= 0 ? ")" : ", unlabeled)");
  }
  std::vector<std::string> class_names() const override {
    return {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  }

 private:
  std::string path_;
  MatArray x_;
  int64_t h_, w_;
  std::vector<int64_t> labels_;
  Preprocess pp_;
};

std::string dims_text(const std::vector<int64_t>& d) {
  std::string s;
  for (size_t k = 0; k < d.size(); ++k) s += (k ? "x" : "") + std::to_string(d[k]);
  return s;
}

}  // namespace

std::unique_ptr<Dataset> open_svhn_mat(const std::string& path, const Preprocess& pp) {
  std::vector<MatArray> arrays = read_mat(path);
  const MatArray& xref = mat_find(arrays, "X", path);
  if (xref.class_name != "uint8")
    throw_error(path, ": X is ", xref.class_name,
                ", expected uint8 (H, W, 3, N) as in SVHN's "
                "test_32x32.mat; re-save the images as uint8");
  const std::vector<int64_t>& d = xref.dims;
  const bool one = d.size() == 3;
  if (!(d.size() == 4 || one) || d[2] != 3 || d[0] <= 0 || d[1] <= 0 || d[0] > 65535 ||
      d[1] > 65535)
    throw_error(path, ": X has dims ", dims_text(d),
                ", expected H x W x 3 x N (SVHN: 32x32x3xN); "
                "this is not an SVHN cropped-digits file");
  const int64_t n = one ? 1 : d[3];
  DICE_ASSERT(static_cast<int64_t>(xref.data.size()) == d[0] * d[1] * 3 * n);
  std::vector<int64_t> labels(static_cast<size_t>(n), -1);
  auto y_it =
      std::find_if(arrays.begin(), arrays.end(), [](const MatArray& a) { return a.name == "y"; });
  if (y_it != arrays.end()) {
    const MatArray& y = mat_find(arrays, "y", path);
    if (y.numel() != n)
      throw_error(path, ": y has ", y.numel(), " labels (dims ", dims_text(y.dims), ") but X has ",
                  n, " images; the file is damaged or not SVHN");
    std::vector<double> v = mat_to_double(y, path);
    for (int64_t i = 0; i < n; ++i) {
      const double l = v[static_cast<size_t>(i)];
      if (!(l >= 1 && l <= 10) || l != std::floor(l))
        throw_error(path, ": label y(", i + 1, ") = ", l,
                    " is not a digit 1..10 (10 = digit 0); "
                    "this is not an SVHN cropped-digits file");
      labels[static_cast<size_t>(i)] = l == 10 ? 0 : static_cast<int64_t>(l);
    }
  }
  const int64_t h = d[0], w = d[1];
  MatArray x = std::move(
      *std::find_if(arrays.begin(), arrays.end(), [](const MatArray& a) { return a.name == "X"; }));
  return std::make_unique<SvhnDataset>(path, std::move(x), h, w, std::move(labels), pp);
}

}  // namespace dice
