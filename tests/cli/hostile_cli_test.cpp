// Hostile command lines and values (issue 17, family 4 of the issue): repeated options, clashing
// set names, labels outside the model's classes, absurd synthetic sizes, NaN/Inf in weights,
// feature statistics and inputs, and usage errors that stay one line. Each case must fail by the
// rule of hostile_harness.h.
#include <sys/stat.h>

#include <cmath>

#include "formats/npy.h"
#include "hostile_harness.h"
#include "weights/state_dict.h"

namespace {

using dice::hostile::expect_refused;
using dice::hostile::folder_with_weights;

const std::vector<std::string> kEval = {"eval", "--weights", "w.pth"};

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& more) {
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

TEST(HostileCli, RepeatedSingleValuedOption) {
  const std::string dir = folder_with_weights();
  expect_refused(with(kEval, {"--id", "gaussian:4", "--id", "x=gaussian:3", "--ood", "uniform:4"}),
                 dir, "--id");
  expect_refused(
      with(kEval, {"--id", "gaussian:4", "--ood", "uniform:4", "--batch", "4", "--batch=8"}), dir,
      "--batch");
}

TEST(HostileCli, DuplicateSetNames) {
  const std::string dir = folder_with_weights();
  expect_refused(
      with(kEval, {"--id", "a=gaussian:4", "--ood", "b=uniform:4", "--ood", "b=uniform:5"}), dir,
      "'b'");
  expect_refused(with(kEval, {"--id", "a=gaussian:4", "--ood", "a=uniform:4"}), dir, "'a'");
}

TEST(HostileCli, AbsurdSyntheticSizeNamesTheBound) {
  const std::string dir = folder_with_weights();
  expect_refused(with(kEval, {"--id", "gaussian:1099511627776", "--ood", "uniform:4"}), dir,
                 "at most 1048576");
}

TEST(HostileCli, UsageErrorsAreOneLine) {
  const std::string dir = folder_with_weights();
  for (const std::vector<std::string>& args : {std::vector<std::string>{"eval", "--bogus"},
                                               {"eval", "--weights"},
                                               {"features", "--help=1"},
                                               {"precompute", "--out", "x.npy", "stray"},
                                               {"convert", "only-one"}}) {
    const auto r = dice::hostile::run(args, dir);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_EQ(dice::hostile::line_count(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("--help`"), std::string::npos) << r.err;
  }
}

TEST(HostileCli, TensorLabelsOutsideTheClasses) {
  const std::string dir = folder_with_weights();
  std::vector<float> images(4 * 3 * 32 * 32, 0.5f);
  dice::write_npy_f32(dir + "/x.npy", {4, 3, 32, 32}, images.data());
  const int64_t labels[4] = {0, 9, 10, 3};  // the fixture network has 10 classes
  dice::write_npy_i64(dir + "/x.labels.npy", {4}, labels);
  expect_refused(with(kEval, {"--id", "tensor:x.npy", "--ood", "uniform:4"}), dir, "index 2");
  expect_refused({"features", "--weights", "w.pth", "--data", "tensor:x.npy", "--out", "f"}, dir,
                 "x.labels.npy");
}

TEST(HostileCli, LabelsFileOutsideTheClasses) {
  const std::string dir = folder_with_weights();
  ASSERT_EQ(::mkdir((dir + "/flat").c_str(), 0755), 0);
  dice::hostile::write_bytes(dir + "/flat/a.ppm", "P6\n2 2\n255\n" + std::string(12, '\x40'));
  dice::hostile::write_bytes(dir + "/flat/b.ppm", "P6\n2 2\n255\n" + std::string(12, '\x40'));
  dice::hostile::write_bytes(dir + "/gt.txt", "a.ppm 3\nb.ppm 10\n");  // 10 classes: 0..9
  expect_refused(with(kEval, {"--id", "flat", "--labels", "gt.txt", "--ood", "uniform:4"}), dir,
                 "gt.txt: label 10 of b.ppm");
}

TEST(HostileCli, NonFiniteWeightsNameTheTensor) {
  const std::string dir = folder_with_weights();
  dice::StateDict sd = dice::load_weights(dir + "/w.pth");
  auto it = sd.tensors.begin();
  std::advance(it, 3);
  it->second.data[1] = NAN;
  dice::save_safetensors(sd, dir + "/nan.safetensors");
  expect_refused(
      with({"eval", "--weights", "nan.safetensors"}, {"--id", "gaussian:4", "--ood", "uniform:4"}),
      dir, it->first);
}

TEST(HostileCli, NonFiniteFeatureStatistics) {
  const std::string dir = folder_with_weights();
  std::vector<double> m(132, 0.5);
  m[7] = INFINITY;
  dice::write_npy_f64(dir + "/stat.npy", {132}, m.data());
  expect_refused(with(kEval, {"--feat-stat", "stat.npy", "--p", "90", "--id", "gaussian:4", "--ood",
                              "uniform:4", "--json", "r.json"}),
                 dir, "stat.npy");
}

TEST(HostileCli, NonFiniteInputFailsAtItsBatch) {
  const std::string dir = folder_with_weights();
  std::vector<float> images(8 * 3 * 32 * 32, 0.5f);
  images[5 * 3 * 32 * 32 + 100] = NAN;  // sample 5: the second batch of 4
  dice::write_npy_f32(dir + "/x.npy", {8, 3, 32, 32}, images.data());
  expect_refused(with(kEval, {"--id", "in=tensor:x.npy", "--ood", "uniform:4", "--batch", "4",
                              "--json", "r.json"}),
                 dir, "in: sample 5");
}

}  // namespace
