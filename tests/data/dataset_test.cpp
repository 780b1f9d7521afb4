// Data sets: ImageFolder listing rules (torchvision's), CIFAR binary batches written here in the
// real format, CIFAR python batches made by scripts/make_data_fixtures.py (Python 2 cPickle and
// Python 3 protocols 2/4/5), synthetic noise, the spec dispatcher, and the real asset folders.
#include "data/dataset.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "data/image.h"
#include "data/transforms.h"
#include "data_fixtures.h"

namespace dice {
namespace {

using test::contains;
using test::data_fixture;

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0;
}

std::vector<float> load(const Dataset& ds, int64_t i) {
  std::vector<float> t(static_cast<size_t>(3 * ds.image_size() * ds.image_size()));
  ds.load(i, t.data());
  return t;
}

std::vector<float> expected(const std::string& image_path, const Preprocess& pp) {
  std::vector<float> t(static_cast<size_t>(3 * pp.crop * pp.crop));
  preprocess_image(decode_image(image_path), pp, t.data());
  return t;
}

void mkdirs(const std::string& p) { ASSERT_EQ(::mkdir(p.c_str(), 0755), 0) << p; }

void copy_fixture(const std::string& rel, const std::string& to) {
  std::vector<uint8_t> b = test::slurp(data_fixture(rel));
  ASSERT_FALSE(b.empty()) << rel;
  test::spit(to, b.data(), b.size());
}

// Expects a dice::Error whose message contains every part.
template <typename Fn>
void expect_error(Fn fn, std::initializer_list<std::string> parts) {
  try {
    fn();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    for (const std::string& p : parts)
      EXPECT_TRUE(contains(e.what(), p)) << e.what() << "\n  lacks: " << p;
  }
}

// ------------------------------------------------------------------------------- ImageFolder

TEST(ImageFolder, ListsLikeTorchvision) {
  const std::string root = test::temp_dir();
  mkdirs(root + "/b_class");
  mkdirs(root + "/a_class");
  mkdirs(root + "/b_class/s");
  mkdirs(root + "/b_class/s/x");
  mkdirs(root + "/b_class/s-t");
  copy_fixture("img/rgb_45x31.bmp", root + "/a_class/img.bmp");
  copy_fixture("img/rgb_50x37.png", root + "/b_class/z.PNG");  // extension case-insensitive
  copy_fixture("img/gray_64x48.png", root + "/b_class/a.png");
  copy_fixture("img/jpeg420_96x72.jpg", root + "/b_class/B.JPEG");  // 'B' < 'a' in byte order
  copy_fixture("img/rgb_32x32.png", root + "/b_class/s/x/deep.png");
  copy_fixture("img/tall_24x70.png", root + "/b_class/s-t/dash.png");
  copy_fixture("img/la_20x20.png", root + "/b_class/s/in_s.png");
  test::spit(root + "/b_class/notes.txt", "x", 1);          // not an image: skipped
  copy_fixture("img/rgb_300x41.png", root + "/loose.png");  // loose in the root: ignored

  auto ds = open_dataset(root, Preprocess::cifar());
  EXPECT_EQ(ds->size(), 7);
  EXPECT_EQ(ds->class_names(), (std::vector<std::string>{"a_class", "b_class"}));
  EXPECT_EQ(ds->image_size(), 32);
  EXPECT_TRUE(contains(ds->describe(), "ImageFolder")) << ds->describe();
  EXPECT_TRUE(contains(ds->describe(), "2 classes, 7 images")) << ds->describe();
  // sorted(os.walk()): b_class, b_class/s, b_class/s-t, b_class/s/x ('-' < '/').
  const std::vector<std::pair<std::string, int>> order = {
      {"a_class/img.bmp", 0},     {"b_class/B.JPEG", 1},     {"b_class/a.png", 1},
      {"b_class/z.PNG", 1},       {"b_class/s/in_s.png", 1}, {"b_class/s-t/dash.png", 1},
      {"b_class/s/x/deep.png", 1}};
  for (size_t i = 0; i < order.size(); ++i) {
    SCOPED_TRACE(order[i].first);
    EXPECT_EQ(ds->label(static_cast<int64_t>(i)), order[i].second);
    EXPECT_TRUE(same_bits(load(*ds, static_cast<int64_t>(i)),
                          expected(root + "/" + order[i].first, Preprocess::cifar())));
  }
}

TEST(ImageFolder, FlatFolderIsOneUnlabeledSet) {
  const std::string root = test::temp_dir();
  copy_fixture("img/rgb_50x37.png", root + "/b.png");
  copy_fixture("img/jpeg444_61x47.jpg", root + "/a.jpg");
  test::spit(root + "/readme.md", "x", 1);
  auto ds = open_dataset(root + "/", Preprocess::imagenet());
  EXPECT_EQ(ds->size(), 2);
  EXPECT_EQ(ds->label(0), -1);
  EXPECT_EQ(ds->label(1), -1);
  EXPECT_TRUE(ds->class_names().empty());
  EXPECT_TRUE(contains(ds->describe(), "unlabeled")) << ds->describe();
  EXPECT_EQ(ds->image_size(), 224);
  EXPECT_TRUE(same_bits(load(*ds, 0), expected(root + "/a.jpg", Preprocess::imagenet())));
}

TEST(ImageFolder, ErrorsNameThePath) {
  const std::string empty = test::temp_dir();
  expect_error([&] { open_dataset(empty, Preprocess::cifar()); }, {empty, "no class sub-folders"});

  const std::string one_empty = test::temp_dir();
  mkdirs(one_empty + "/cats");
  mkdirs(one_empty + "/dogs");
  copy_fixture("img/rgb_50x37.png", one_empty + "/cats/1.png");
  test::spit(one_empty + "/dogs/list.txt", "x", 1);
  expect_error([&] { open_dataset(one_empty, Preprocess::cifar()); }, {one_empty, "dogs"});

  const std::string tif = test::temp_dir();
  mkdirs(tif + "/c");
  test::spit(tif + "/c/scan.TIFF", "II*\0", 4);
  expect_error([&] { open_dataset(tif, Preprocess::cifar()); }, {tif + "/c/scan.TIFF", "convert"});

  const std::string cifar = test::temp_dir();
  test::spit(cifar + "/test_batch.bin", "x", 1);
  expect_error([&] { open_dataset(cifar, Preprocess::cifar()); }, {cifar, "test_batch.bin"});

  expect_error([&] { open_dataset("/no/such/folder", Preprocess::cifar()); }, {"/no/such/folder"});

  // A broken image is reported when it is loaded, naming the file.
  const std::string broken = test::temp_dir();
  mkdirs(broken + "/c");
  test::spit(broken + "/c/bad.jpg", "not a jpeg", 10);
  auto ds = open_dataset(broken, Preprocess::cifar());
  std::vector<float> t(3 * 32 * 32);
  expect_error([&] { ds->load(0, t.data()); }, {broken + "/c/bad.jpg"});

  // An image that decodes but is too elongated to resize (1 x 200000 to shorter side 32 needs
  // 32 x 6.4M pixels, over the resize cap) is reported naming the file too.
  const std::string thin = test::temp_dir();
  mkdirs(thin + "/c");
  std::string pgm = "P5\n1 200000\n255\n";
  pgm.append(200000, '\x80');
  test::spit(thin + "/c/thin.pgm", pgm.data(), pgm.size());
  auto ts = open_dataset(thin, Preprocess::cifar());
  expect_error([&] { ts->load(0, t.data()); }, {thin + "/c/thin.pgm", "resize", "--skip-bad"});
}

// ------------------------------------------------------------------------------- CIFAR binary

// Pixel (i, j) of the synthetic batches: j indexes the 3072 planar bytes of image i.
uint8_t px(int64_t i, int64_t j) {
  return static_cast<uint8_t>((i * 31 + j * 7 + 50 * (j / 1024)) % 256);
}

// What the CIFAR readers must produce for image i with pixel formula px.
std::vector<float> expected_cifar(int64_t i, const Preprocess& pp) {
  Image im(32, 32);
  for (int k = 0; k < 1024; ++k)
    for (int c = 0; c < 3; ++c) im.rgb[k * 3 + c] = px(i, c * 1024 + k);
  std::vector<float> t(static_cast<size_t>(3 * pp.crop * pp.crop));
  preprocess_image(im, pp, t.data());
  return t;
}

std::string write_cifar_bin(const std::string& path, int n, bool cifar100) {
  std::string b;
  for (int i = 0; i < n; ++i) {
    if (cifar100) {
      b.push_back(static_cast<char>(((7 * i + 3) % 100) / 5));
      b.push_back(static_cast<char>((7 * i + 3) % 100));
    } else {
      b.push_back(static_cast<char>((3 * i + 1) % 10));
    }
    for (int j = 0; j < 3072; ++j) b.push_back(static_cast<char>(px(i, j)));
  }
  test::spit(path, b.data(), b.size());
  return b;
}

TEST(CifarBinary, Cifar10RoundTrip) {
  const std::string dir = test::temp_dir();
  write_cifar_bin(dir + "/test_batch.bin", 9, false);
  std::string names = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n";
  test::spit(dir + "/batches.meta.txt", names.data(), names.size());
  auto ds = open_dataset(dir + "/test_batch.bin", Preprocess::cifar());
  ASSERT_EQ(ds->size(), 9);
  EXPECT_TRUE(contains(ds->describe(), "CIFAR-10 binary")) << ds->describe();
  EXPECT_EQ(ds->class_names().size(), 10u);
  EXPECT_EQ(ds->class_names()[9], "truck");
  for (int i = 0; i < 9; ++i) {
    EXPECT_EQ(ds->label(i), (3 * i + 1) % 10);
    EXPECT_TRUE(same_bits(load(*ds, i), expected_cifar(i, Preprocess::cifar()))) << i;
  }
  // Any name works when the size says which layout it is.
  write_cifar_bin(dir + "/mine.bin", 2, false);
  EXPECT_EQ(open_dataset(dir + "/mine.bin", Preprocess::cifar())->size(), 2);
}

TEST(CifarBinary, Cifar100UsesFineLabels) {
  const std::string dir = test::temp_dir();
  write_cifar_bin(dir + "/test.bin", 5, true);
  auto ds = open_dataset(dir + "/test.bin", Preprocess::cifar());
  ASSERT_EQ(ds->size(), 5);
  EXPECT_TRUE(contains(ds->describe(), "CIFAR-100")) << ds->describe();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(ds->label(i), (7 * i + 3) % 100);
    EXPECT_TRUE(same_bits(load(*ds, i), expected_cifar(i, Preprocess::cifar()))) << i;
  }
  // Upscaled through the ImageNet geometry as well (resize 32 -> 256, crop 224).
  auto big = open_cifar_binary(dir + "/test.bin", Preprocess::imagenet());
  EXPECT_EQ(big->image_size(), 224);
  EXPECT_TRUE(same_bits(load(*big, 2), expected_cifar(2, Preprocess::imagenet())));
}

TEST(CifarBinary, BadFilesThrowNamingThem) {
  const std::string dir = test::temp_dir();
  std::string b = write_cifar_bin(dir + "/data_batch_1.bin", 3, false);
  test::spit(dir + "/data_batch_1.bin", b.data(), b.size() - 100);  // truncated
  expect_error([&] { open_dataset(dir + "/data_batch_1.bin", Preprocess::cifar()); },
               {dir + "/data_batch_1.bin", "truncated"});
  test::spit(dir + "/odd.bin", b.data(), 5000);
  expect_error([&] { open_dataset(dir + "/odd.bin", Preprocess::cifar()); },
               {dir + "/odd.bin", "truncated"});
  test::spit(dir + "/empty.bin", "", 0);
  expect_error([&] { open_dataset(dir + "/empty.bin", Preprocess::cifar()); },
               {dir + "/empty.bin", "empty"});
  // CIFAR-10 records under a CIFAR-100 name.
  write_cifar_bin(dir + "/train.bin", 3, false);
  expect_error([&] { open_dataset(dir + "/train.bin", Preprocess::cifar()); },
               {dir + "/train.bin", "CIFAR-100"});
  // A label out of range.
  std::string bad = b;
  bad[3073] = 12;
  test::spit(dir + "/test_batch.bin", bad.data(), bad.size());
  expect_error([&] { open_dataset(dir + "/test_batch.bin", Preprocess::cifar()); },
               {dir + "/test_batch.bin", "record 1", "label 12"});
  expect_error([&] { open_dataset(dir + "/missing.bin", Preprocess::cifar()); },
               {dir + "/missing.bin"});
}

TEST(CifarBinary, AssetExact200) {
  DICE_REQUIRE_ASSET(path, "data/cifar-10-batches-bin-exact200/test_batch.bin");
  auto ds = open_dataset(path, Preprocess::cifar());
  ASSERT_EQ(ds->size(), 200);
  ASSERT_EQ(ds->class_names().size(), 10u);
  EXPECT_EQ(ds->class_names()[0], "airplane");
  // Labels and pixels straight from the records (1 label byte, 1024 R, 1024 G, 1024 B).
  std::vector<uint8_t> raw = test::slurp(path);
  ASSERT_EQ(raw.size(), 200u * 3073);
  const int first[] = {7, 5, 3, 8, 8, 0, 1, 3};  // this subset's first labels
  for (int i = 0; i < 8; ++i) EXPECT_EQ(ds->label(i), first[i]) << i;
  const Preprocess pp = Preprocess::cifar();
  for (int64_t i : {0, 57, 199}) {
    EXPECT_EQ(ds->label(i), raw[i * 3073]);
    std::vector<float> t = load(*ds, i);
    for (int c = 0; c < 3; ++c)
      for (int k = 0; k < 1024; ++k)
        ASSERT_EQ(t[c * 1024 + k], normalize_value(raw[i * 3073 + 1 + c * 1024 + k], c, pp)) << i;
  }
}

// ------------------------------------------------------------------------------- CIFAR python

TEST(CifarPython, AllPickleFlavours) {
  struct Case {
    const char* file;
    bool cifar100;
    bool names;
  };
  for (const Case& c :
       {Case{"cifar_py/py2/test_batch", false, true},
        Case{"cifar_py/p2/data_batch_1", false, false}, Case{"cifar_py/p4/test", true, false},
        Case{"cifar_py/p5/test_batch", false, false}}) {
    SCOPED_TRACE(c.file);
    auto ds = open_dataset(data_fixture(c.file), Preprocess::cifar());
    ASSERT_EQ(ds->size(), 6);
    EXPECT_TRUE(contains(ds->describe(), c.cifar100 ? "CIFAR-100 python" : "CIFAR-10 python"))
        << ds->describe();
    for (int i = 0; i < 6; ++i) {
      EXPECT_EQ(ds->label(i), c.cifar100 ? (7 * i + 3) % 100 : (3 * i + 1) % 10);
      EXPECT_TRUE(same_bits(load(*ds, i), expected_cifar(i, Preprocess::cifar()))) << i;
    }
    // Against torchvision's own CIFAR10 conversion (Image.fromarray of the HWC array).
    for (int i : {1, 4}) {
      std::vector<float> want =
          test::read_f32z(data_fixture("cifar_py/expect_" + std::to_string(i) + ".f32.z"), 3072);
      EXPECT_TRUE(same_bits(load(*ds, i), want)) << i;
    }
    if (c.names) {
      ASSERT_EQ(ds->class_names().size(), 10u);
      EXPECT_EQ(ds->class_names()[3], "cat");
    }
  }
}

TEST(CifarPython, BadPicklesThrowNamingThem) {
  const std::string dir = test::temp_dir();
  std::vector<uint8_t> b = test::slurp(data_fixture("cifar_py/py2/test_batch"));
  test::spit(dir + "/test_batch", b.data(), b.size() / 2);
  expect_error([&] { open_dataset(dir + "/test_batch", Preprocess::cifar()); },
               {dir + "/test_batch"});
  // A pickle that would run os.system("echo hi") in Python.
  const char evil[] =
      "\x80\x02"
      "cos\nsystem\n"
      "X\x07\x00\x00\x00echo hiq\x00\x85R.";
  test::spit(dir + "/evil", evil, sizeof evil - 1);
  expect_error([&] { open_dataset(dir + "/evil", Preprocess::cifar()); },
               {dir + "/evil", "os.system"});
  // The meta file is a pickle too, but not a batch.
  expect_error(
      [&] { open_dataset(data_fixture("cifar_py/py2/batches.meta"), Preprocess::cifar()); },
      {"batches.meta", "not a CIFAR python batch"});
  // A file that is neither image folder, .bin nor pickle.
  test::spit(dir + "/notes.txt", "hello", 5);
  expect_error([&] { open_dataset(dir + "/notes.txt", Preprocess::cifar()); },
               {dir + "/notes.txt"});
}

// ------------------------------------------------------------------------------- synthetic

TEST(Synthetic, DeterministicNormalizedNoise) {
  const Preprocess pp = Preprocess::cifar();
  auto g = open_dataset("gaussian:20", pp);
  auto g2 = open_dataset("gaussian:20:0", pp);
  auto g3 = open_dataset("gaussian:20:5", pp);
  auto u = open_dataset("uniform:20", pp);
  ASSERT_EQ(g->size(), 20);
  EXPECT_EQ(g->label(3), -1);
  EXPECT_EQ(g->image_size(), 32);
  EXPECT_TRUE(contains(g->describe(), "gaussian")) << g->describe();
  EXPECT_TRUE(same_bits(load(*g, 7), load(*g, 7)));
  EXPECT_TRUE(same_bits(load(*g, 7), load(*g2, 7)));
  EXPECT_FALSE(same_bits(load(*g, 7), load(*g3, 7)));
  EXPECT_FALSE(same_bits(load(*g, 7), load(*g, 8)));
  // Undo Normalize and look at the pixel distribution.
  int64_t zeros = 0, ones = 0, n = 0;
  double usum = 0, umin = 1, umax = 0;
  for (int i = 0; i < 20; ++i) {
    std::vector<float> a = load(*g, i), b = load(*u, i);
    for (size_t k = 0; k < a.size(); ++k) {
      const int c = static_cast<int>(k / 1024);
      const double x = a[k] * pp.std[c] + pp.mean[c], y = b[k] * pp.std[c] + pp.mean[c];
      ASSERT_GE(x, -1e-6);
      ASSERT_LE(x, 1 + 1e-6);
      zeros += std::fabs(x) < 1e-6;
      ones += std::fabs(x - 1) < 1e-6;
      usum += y;
      umin = std::min(umin, y);
      umax = std::max(umax, y);
      ++n;
    }
  }
  // N(0.5, 1) puts 30.9% below 0 and 30.9% above 1.
  EXPECT_NEAR(double(zeros) / n, 0.3085, 0.02);
  EXPECT_NEAR(double(ones) / n, 0.3085, 0.02);
  EXPECT_NEAR(usum / n, 0.5, 0.01);
  EXPECT_LT(umin, 0.001);
  EXPECT_GT(umax, 0.999);
  // Follows the crop size of the run.
  EXPECT_EQ(open_dataset("uniform:3", Preprocess::imagenet())->image_size(), 224);
}

TEST(Synthetic, SpecErrors) {
  for (const char* bad :
       {"gaussian:", "gaussian:x", "gaussian:0", "uniform:-3", "uniform:5:x", "gaussian:10:"}) {
    SCOPED_TRACE(bad);
    expect_error([&] { open_dataset(bad, Preprocess::cifar()); }, {bad});
  }
}

// ------------------------------------------------------------------------------- real assets

TEST(Assets, FolderCounts) {
  struct Case {
    const char* rel;
    size_t classes;
    int64_t images;
  };
  for (const Case& c : {Case{"data/cifar-10-test-jpeg", 10, 10000},
                        Case{"datasets/ood_datasets/dtd/images", 5, 600},
                        Case{"datasets/imagenet-sample", 1000, 1000}}) {
    std::string path = test::asset(c.rel);
    if (path.empty()) {
      std::printf("  skipped, asset not present: %s\n", c.rel);
      continue;
    }
    SCOPED_TRACE(c.rel);
    auto ds = open_dataset(path, Preprocess::cifar());
    EXPECT_EQ(ds->class_names().size(), c.classes);
    EXPECT_EQ(ds->size(), c.images);
    EXPECT_EQ(ds->label(0), 0);
    EXPECT_EQ(ds->label(ds->size() - 1), static_cast<int64_t>(c.classes) - 1);
    for (int64_t i : {int64_t(0), ds->size() / 2, ds->size() - 1}) {
      std::vector<float> t = load(*ds, i);
      for (float v : t) ASSERT_TRUE(std::isfinite(v));
    }
  }
  std::string cifar = test::asset("data/cifar-10-test-jpeg");
  if (!cifar.empty()) {
    auto ds = open_dataset(cifar, Preprocess::cifar());
    EXPECT_EQ(ds->class_names()[0], "airplane");
    EXPECT_EQ(ds->label(1000), 1);
  }
}

}  // namespace
}  // namespace dice
