// The ImageNet-side readers: SVHN .mat files written here in the real MATLAB v5 format
// (uncompressed and zlib-compressed), tensor:FILE.npy with and without labels, the flat
// ILSVRC-2012 val folder with a ground-truth file, and the sorted-wnid class index of
// imagenet-sample. Pixel values come from formulas the tests recompute, so nothing is compared
// with our own reader's output.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstring>

#include "core/error.h"
#include "data/dataset.h"
#include "data_fixtures.h"
#include "formats/mat.h"
#include "formats/npy.h"

namespace dice {
namespace {

using test::contains;

template <typename Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// SVHN pixel (row r, column c, channel k) of image n: a formula with every index in it.
uint8_t svhn_pixel(int64_t r, int64_t c, int64_t k, int64_t n) {
  return static_cast<uint8_t>((r * 7 + c * 13 + k * 61 + n * 29) & 255);
}

MatArray svhn_x(int64_t n, bool squeeze_single = true) {
  MatArray x;
  x.name = "X";
  x.class_name = "uint8";
  x.dims = {32, 32, 3, n};
  if (n == 1 && squeeze_single) x.dims = {32, 32, 3};  // MATLAB drops trailing singletons
  x.data.resize(static_cast<size_t>(3072 * n));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < 3; ++k)
      for (int64_t c = 0; c < 32; ++c)
        for (int64_t r = 0; r < 32; ++r)
          x.data[static_cast<size_t>(r + 32 * c + 1024 * k + 3072 * i)] = svhn_pixel(r, c, k, i);
  return x;
}

MatArray svhn_y(const std::vector<double>& labels) {
  MatArray y;
  y.name = "y";
  y.class_name = "double";
  y.dims = {static_cast<int64_t>(labels.size()), 1};
  y.data.resize(labels.size() * 8);
  std::memcpy(y.data.data(), labels.data(), y.data.size());
  return y;
}

TEST(Svhn, PixelsAndLabelsBothEncodings) {
  const std::string dir = test::temp_dir();
  const std::vector<double> y = {10, 1, 9, 5, 10};  // 10 means digit 0
  for (bool compressed : {false, true}) {
    SCOPED_TRACE(compressed ? "compressed" : "uncompressed");
    const std::string path = dir + (compressed ? "/test_z.mat" : "/test_32x32.mat");
    write_mat_v5(path, {svhn_x(5), svhn_y(y)}, compressed);
    auto ds = open_dataset(path, Preprocess::cifar());
    ASSERT_EQ(ds->size(), 5);
    EXPECT_EQ(ds->image_size(), 32);
    EXPECT_EQ(ds->class_names().size(), 10u);
    const int64_t want_labels[5] = {0, 1, 9, 5, 0};
    for (int64_t n = 0; n < 5; ++n) EXPECT_EQ(ds->label(n), want_labels[n]);
    std::vector<float> t(3 * 32 * 32);
    const Preprocess pp = Preprocess::cifar();
    for (int64_t n : {0, 3, 4}) {
      ds->load(n, t.data());
      for (int64_t k = 0; k < 3; ++k)
        for (int64_t r = 0; r < 32; ++r)
          for (int64_t c = 0; c < 32; ++c)
            ASSERT_EQ(t[static_cast<size_t>(k * 1024 + r * 32 + c)],
                      normalize_value(svhn_pixel(r, c, k, n), static_cast<int>(k), pp))
                << "image " << n << " row " << r << " col " << c << " channel " << k;
    }
  }
}

TEST(Svhn, BigEndianNarrowedLabelsAndOneImage) {
  const std::string dir = test::temp_dir();
  // MATLAB stores small-integer doubles as miUINT8; an 'MI' file; X of one image is 32x32x3.
  std::vector<uint8_t> bytes = serialize_mat_v5({svhn_x(1), svhn_y({3})}, false, true, true);
  test::spit(dir + "/one.mat", bytes.data(), bytes.size());
  auto ds = open_dataset(dir + "/one.mat", Preprocess::cifar());
  ASSERT_EQ(ds->size(), 1);
  EXPECT_EQ(ds->label(0), 3);
  // Without y: one unlabeled set.
  write_mat_v5(dir + "/nolabels.mat", {svhn_x(2)}, true);
  auto u = open_dataset(dir + "/nolabels.mat", Preprocess::cifar());
  ASSERT_EQ(u->size(), 2);
  EXPECT_EQ(u->label(1), -1);
  // ImageNet pre-processing upsamples to 224 without complaint (as torchvision would).
  auto big = open_dataset(dir + "/one.mat", Preprocess::imagenet());
  EXPECT_EQ(big->image_size(), 224);
}

TEST(Svhn, MalformedFilesNameTheFile) {
  const std::string dir = test::temp_dir();
  const std::string p = dir + "/bad.mat";
  write_mat_v5(p, {svhn_y({1, 2})}, false);  // no X
  std::string e = error_of([&] { open_dataset(p, Preprocess::cifar()); });
  EXPECT_TRUE(contains(e, p) && contains(e, "X")) << e;

  MatArray x = svhn_x(2);
  x.dims = {32, 32, 4, 2};  // 4 channels
  x.data.resize(32 * 32 * 4 * 2);
  write_mat_v5(p, {x, svhn_y({1, 2})}, true);
  e = error_of([&] { open_dataset(p, Preprocess::cifar()); });
  EXPECT_TRUE(contains(e, p) && contains(e, "32x32x4x2")) << e;

  MatArray xd = svhn_x(2);
  xd.class_name = "double";
  xd.data.resize(xd.data.size() * 8);
  write_mat_v5(p, {xd}, false);
  e = error_of([&] { open_dataset(p, Preprocess::cifar()); });
  EXPECT_TRUE(contains(e, p) && contains(e, "uint8")) << e;

  write_mat_v5(p, {svhn_x(3), svhn_y({1, 2})}, false);  // 3 images, 2 labels
  e = error_of([&] { open_dataset(p, Preprocess::cifar()); });
  EXPECT_TRUE(contains(e, p) && contains(e, "2 labels")) << e;

  write_mat_v5(p, {svhn_x(2), svhn_y({1, 11})}, false);  // not a digit
  e = error_of([&] { open_dataset(p, Preprocess::cifar()); });
  EXPECT_TRUE(contains(e, p) && contains(e, "11")) << e;

  const char junk[] = "MATLAB 5.0 MAT-file, but then nothing";
  test::spit(p, junk, sizeof junk);
  e = error_of([&] { open_dataset(p, Preprocess::cifar()); });
  EXPECT_TRUE(contains(e, p)) << e;
}

// ------------------------------------------------------------------------------- tensor:

TEST(TensorNpy, FedAsIsWithLabelsBeside) {
  const std::string dir = test::temp_dir();
  const int64_t n = 3, s = 32;
  std::vector<float> x(static_cast<size_t>(n * 3 * s * s));
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i) * 0.001f - 7.25f;
  write_npy_f32(dir + "/in.npy", {n, 3, s, s}, x.data());
  auto ds = open_dataset("tensor:" + dir + "/in.npy", Preprocess::cifar());
  ASSERT_EQ(ds->size(), n);
  EXPECT_EQ(ds->label(2), -1);  // no in.labels.npy yet
  std::vector<float> t(static_cast<size_t>(3 * s * s));
  ds->load(1, t.data());
  EXPECT_EQ(std::memcmp(t.data(), x.data() + 3 * s * s, t.size() * 4), 0);

  const int64_t labels[3] = {5, -1, 999};
  write_npy_i64(dir + "/in.labels.npy", {n}, labels);
  auto dl = open_dataset("tensor:" + dir + "/in.npy", Preprocess::cifar());
  EXPECT_EQ(dl->label(0), 5);
  EXPECT_EQ(dl->label(1), -1);
  EXPECT_EQ(dl->label(2), 999);
}

TEST(TensorNpy, ClearErrors) {
  const std::string dir = test::temp_dir();
  std::vector<float> x(2 * 3 * 32 * 32, 0.5f);
  write_npy_f32(dir + "/a.npy", {2, 3, 32, 32}, x.data());
  // The model takes 224: name the file, both sizes.
  std::string e =
      error_of([&] { open_dataset("tensor:" + dir + "/a.npy", Preprocess::imagenet()); });
  EXPECT_TRUE(contains(e, dir + "/a.npy") && contains(e, "32x32") && contains(e, "224")) << e;
  write_npy_f32(dir + "/b.npy", {3, 32, 32}, x.data());
  e = error_of([&] { open_dataset("tensor:" + dir + "/b.npy", Preprocess::cifar()); });
  EXPECT_TRUE(contains(e, "b.npy") && contains(e, "(N, 3, S, S)")) << e;
  std::vector<double> xd(2 * 3 * 32 * 32);
  write_npy_f64(dir + "/c.npy", {2, 3, 32, 32}, xd.data());
  e = error_of([&] { open_dataset("tensor:" + dir + "/c.npy", Preprocess::cifar()); });
  EXPECT_TRUE(contains(e, "c.npy") && contains(e, "float32")) << e;
  const int64_t three[3] = {1, 2, 3};
  write_npy_i64(dir + "/a.labels.npy", {3}, three);
  e = error_of([&] { open_dataset("tensor:" + dir + "/a.npy", Preprocess::cifar()); });
  EXPECT_TRUE(contains(e, "a.labels.npy") && contains(e, "(2,)")) << e;
  e = error_of([&] { open_dataset("tensor:" + dir + "/missing.npy", Preprocess::cifar()); });
  EXPECT_TRUE(contains(e, "missing.npy")) << e;
  e = error_of([&] { open_dataset(dir + "/a.npy", Preprocess::cifar()); });  // prefix forgotten
  EXPECT_TRUE(contains(e, "tensor:")) << e;
}

// ------------------------------------------------------------------------------- ILSVRC-2012

void copy_jpeg(const std::string& to) {
  std::vector<uint8_t> b = test::slurp(test::data_fixture("img/jpeg420_5x7.jpg"));
  test::spit(to, b.data(), b.size());
}

TEST(Ilsvrc, FlatValFolderWithLabelsFile) {
  const std::string dir = test::temp_dir();
  const std::string val = dir + "/val";
  ASSERT_EQ(::mkdir(val.c_str(), 0755), 0);
  for (int i : {3, 1, 2}) {
    char name[64];
    std::snprintf(name, sizeof name, "/ILSVRC2012_val_%08d.JPEG", i);
    copy_jpeg(val + name);
  }
  const std::string gt = dir + "/val_labels.txt";
  const std::string text =
      "ILSVRC2012_val_00000001.JPEG 65\nILSVRC2012_val_00000002.JPEG 970\r\n"
      "ILSVRC2012_val_00000003.JPEG 230\nILSVRC2012_val_00000004.JPEG 809\n";  // 4: absent, fine
  test::spit(gt, text.data(), text.size());
  DatasetOptions o;
  o.labels = gt;
  auto ds = open_dataset(val, Preprocess::imagenet(), o);
  ASSERT_EQ(ds->size(), 3);
  EXPECT_EQ(ds->label(0), 65);  // files in sorted order
  EXPECT_EQ(ds->label(1), 970);
  EXPECT_EQ(ds->label(2), 230);
  std::vector<float> t(3 * 224 * 224);
  ds->load(2, t.data());

  // Without --labels: unlabeled.
  EXPECT_EQ(open_dataset(val, Preprocess::imagenet())->label(0), -1);

  // A missing entry names the labels file and the image.
  const std::string partial = "ILSVRC2012_val_00000001.JPEG 65\nILSVRC2012_val_00000003.JPEG 1\n";
  test::spit(gt, partial.data(), partial.size());
  std::string e = error_of([&] { open_dataset(val, Preprocess::imagenet(), o); });
  EXPECT_TRUE(contains(e, gt) && contains(e, "ILSVRC2012_val_00000002.JPEG")) << e;

  // The devkit's bare-number ground truth is explained, not misread.
  const std::string devkit = "490\n361\n171\n";
  test::spit(gt, devkit.data(), devkit.size());
  e = error_of([&] { open_dataset(val, Preprocess::imagenet(), o); });
  EXPECT_TRUE(contains(e, gt) && contains(e, "devkit")) << e;

  const std::string garbage = "ILSVRC2012_val_00000001.JPEG sixty-five\n";
  test::spit(gt, garbage.data(), garbage.size());
  e = error_of([&] { open_dataset(val, Preprocess::imagenet(), o); });
  EXPECT_TRUE(contains(e, gt + ":1")) << e;

  o.labels = dir + "/nope.txt";
  e = error_of([&] { open_dataset(val, Preprocess::imagenet(), o); });
  EXPECT_TRUE(contains(e, "nope.txt")) << e;

  // --labels with class sub-folders or a non-folder spec is refused.
  o.labels = gt;
  ASSERT_EQ(::mkdir((dir + "/train").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((dir + "/train/n01440764").c_str(), 0755), 0);
  copy_jpeg(dir + "/train/n01440764/x.JPEG");
  e = error_of([&] { open_dataset(dir + "/train", Preprocess::imagenet(), o); });
  EXPECT_TRUE(contains(e, "--labels")) << e;
  e = error_of([&] { open_dataset("gaussian:4", Preprocess::imagenet(), o); });
  EXPECT_TRUE(contains(e, "--labels")) << e;
}

TEST(Ilsvrc, WnidFoldersGiveTheImagenetClassIndex) {
  DICE_REQUIRE_ASSET(root, "datasets/imagenet-sample");
  auto ds = open_dataset(root, Preprocess::imagenet());
  ASSERT_EQ(ds->size(), 1000);
  const std::vector<std::string> names = ds->class_names();
  ASSERT_EQ(names.size(), 1000u);
  // The first and last ImageNet-1k classes (tench, toilet tissue) and one in between (the
  // index torchvision's weights call 'goldfish').
  EXPECT_EQ(names[0], "n01440764");
  EXPECT_EQ(names[1], "n01443537");
  EXPECT_EQ(names[999], "n15075141");
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  for (int64_t i = 0; i < 1000; i += 111) EXPECT_EQ(ds->label(i), i);  // one image per class
}

}  // namespace
}  // namespace dice
