// The data options of the `dice` command, end to end on the small DenseNet fixture: --skip-bad
// (a corrupt file is warned about, dropped and counted; without the flag the run fails with one
// line naming it), --labels for a flat folder, tensor:FILE.npy giving the very features the
// images give, and --decoder.
#include <gtest/gtest.h>

#include "data/dataset.h"
#include "data_fixtures.h"
#include "formats/npy.h"

namespace dice {
namespace {

using test::contains;
using test::run_dice;

const std::string kNet = test::fixture("nn/densenet40_c10.pth.tar");  // CIFAR input, C = 10

// A flat folder of 5 images (a.png .. e.png), c.png corrupt; returns the folder.
std::string flat_folder_with_a_bad_file(const std::string& dir) {
  const std::string set = dir + "/set";
  EXPECT_EQ(::system(("mkdir -p " + set).c_str()), 0);
  const char* src[] = {"img/rgb_50x37.png", "img/jpeg420_96x72.jpg", nullptr, "img/gray_64x48.png",
                       "img/jpeg_cmyk444_23x17.jpg"};
  const char* names[] = {"a.png", "b.jpg", "c.png", "d.png", "e.jpg"};
  for (int i = 0; i < 5; ++i) {
    std::vector<uint8_t> b = src[i] ? test::slurp(test::data_fixture(src[i]))
                                    : std::vector<uint8_t>{0x89, 'P', 'N', 'G', 1, 2, 3};
    test::spit(set + "/" + names[i], b.data(), b.size());
  }
  return set;
}

TEST(CliData, SkipBadDropsAndCounts) {
  const std::string dir = test::temp_dir();
  const std::string set = flat_folder_with_a_bad_file(dir);
  std::string out;
  // Without --skip-bad: one line naming the file.
  EXPECT_NE(
      run_dice("features --weights " + kNet + " --data " + set + " --out " + dir + "/f", &out), 0);
  EXPECT_TRUE(contains(out, set + "/c.png")) << out;
  // With it: 4 rows, the labels of the others in order, one warning, the count at the end.
  const std::string gt = dir + "/gt.txt";
  const std::string text = "a.png 1\nb.jpg 2\nc.png 3\nd.png 4\ne.jpg 5\n";
  test::spit(gt, text.data(), text.size());
  ASSERT_EQ(run_dice("features --weights " + kNet + " --data " + set + " --labels " + gt +
                         " --skip-bad --out " + dir + "/f",
                     &out),
            0)
      << out;
  EXPECT_TRUE(contains(out, "warning: skipped (--skip-bad): " + set + "/c.png")) << out;
  EXPECT_TRUE(contains(out, "skipped 1 unreadable file")) << out;
  NpyArray labels = read_npy(dir + "/f.labels.npy");
  ASSERT_EQ(labels.shape, (std::vector<int64_t>{4}));
  std::vector<double> l = npy_to_double(labels, "labels");
  EXPECT_EQ(l, (std::vector<double>{1, 2, 4, 5}));
  EXPECT_EQ(read_npy(dir + "/f.features.npy").shape[0], 4);

  // eval: the bad file is left out of the ID scores and counted.
  ASSERT_EQ(run_dice("eval --weights " + kNet + " --id in=" + set + " --labels " + gt +
                         " --ood g=gaussian:6 --skip-bad --quiet",
                     &out),
            0)
      << out;
  EXPECT_TRUE(contains(out, "skipped 1 unreadable file (in: 1)")) << out;
}

TEST(CliData, TensorSpecGivesTheSameFeaturesAsTheImages) {
  const std::string dir = test::temp_dir();
  const std::string set = flat_folder_with_a_bad_file(dir);
  std::remove((set + "/c.png").c_str());
  auto ds = open_dataset(set, Preprocess::cifar());
  const int64_t n = ds->size(), per = 3 * 32 * 32;
  std::vector<float> x(static_cast<size_t>(n * per));
  for (int64_t i = 0; i < n; ++i) ds->load(i, x.data() + i * per);
  write_npy_f32(dir + "/x.npy", {n, 3, 32, 32}, x.data());
  std::string out;
  ASSERT_EQ(
      run_dice("features --weights " + kNet + " --data " + set + " --out " + dir + "/img", &out), 0)
      << out;
  ASSERT_EQ(run_dice("features --weights " + kNet + " --data tensor:" + dir + "/x.npy --out " +
                         dir + "/ten",
                     &out),
            0)
      << out;
  EXPECT_EQ(read_npy(dir + "/img.features.npy").data, read_npy(dir + "/ten.features.npy").data);
  // --decoder: turbo where built, a one-line error otherwise; junk refused.
  const int rc = run_dice(
      "features --weights " + kNet + " --data " + set + " --decoder turbo --out " + dir + "/tj",
      &out);
  if (have_turbojpeg()) {
    ASSERT_EQ(rc, 0) << out;
    EXPECT_EQ(read_npy(dir + "/img.features.npy").data, read_npy(dir + "/tj.features.npy").data);
  } else {
    EXPECT_TRUE(contains(out, "libturbojpeg0-dev")) << out;
  }
  EXPECT_NE(run_dice("features --weights " + kNet + " --data " + set + " --decoder foo --out " +
                         dir + "/z",
                     &out),
            0);
  EXPECT_TRUE(contains(out, "'foo'")) << out;
}

}  // namespace
}  // namespace dice
