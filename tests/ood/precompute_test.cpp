// ood/precompute: the exact feature sums (order-independent, cancellation-proof), shards merged
// equal to the unsharded mean bit for bit (library and `dice precompute` CLI), part-file checks,
// and agreement with a plain float64 mean of the features within 1e-12 relative.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/file_io.h"
#include "data/dataset.h"
#include "formats/npy.h"
#include "nn/model.h"
#include "nn/random_weights.h"
#include "ood/evaluate.h"
#include "ood/precompute.h"
#include "test_util.h"

namespace {

std::unique_ptr<dice::Model> tiny_densenet(uint64_t seed = 5) {
  dice::StateDict sd = dice::random_densenet_state_dict(22, 12, 10, seed);  // the model copies it
  sd.source = "random_densenet22";
  return dice::make_model("densenet", sd);
}

std::string error_of_merge(const std::vector<dice::PrecomputePart>& parts) {
  std::vector<std::string> names;
  for (size_t i = 0; i < parts.size(); ++i) names.push_back("part" + std::to_string(i) + ".npy");
  try {
    dice::merge_parts(parts, names);
  } catch (const dice::Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(ExactFeatureSum, IsExactAndOrderIndependent) {
  // 1e30 + 1 - 1e30 in float or double arithmetic loses the 1; the exact sum does not.
  const float rows[3][2] = {{1e30f, 0.5f}, {1.0f, -0.25f}, {-1e30f, 1e-45f}};
  dice::ExactFeatureSum a(2), b(2);
  a.add(&rows[0][0], 3);
  for (int r : {2, 1, 0}) b.add(rows[r], 1);
  EXPECT_EQ(a.count(), 3);
  EXPECT_EQ(a.sums(), (std::vector<double>{1.0, 0.25 + static_cast<double>(1e-45f)}));
  EXPECT_EQ(a.limbs(), b.limbs());
  EXPECT_EQ(a.mean()[0], 1.0 / 3.0);
}

TEST(ExactFeatureSum, MatchesLongSumsAndRoundTripsLimbs) {
  std::mt19937 rng(3);
  std::normal_distribution<float> g(0.0f, 3.0f);
  const int64_t n = 5000, d = 7;
  std::vector<float> x(n * d);
  for (float& v : x) v = g(rng) * std::exp2(static_cast<float>(static_cast<int>(rng() % 40) - 20));
  dice::ExactFeatureSum s(d), split(d), tail(d);
  EXPECT_EQ(s.add(x.data(), n), -1);
  split.add(x.data(), 1234);
  tail.add(x.data() + 1234 * d, n - 1234);
  split.merge(tail);
  EXPECT_EQ(split.limbs(), s.limbs());
  EXPECT_EQ(split.sums(), s.sums());
  std::vector<double> sums = s.sums();
  for (int64_t j = 0; j < d; ++j) {
    long double ref = 0;
    for (int64_t i = 0; i < n; ++i) ref += x[i * d + j];
    EXPECT_NEAR(sums[j], static_cast<double>(ref), 1e-12 * std::fabs(static_cast<double>(ref)) + 1e-30) << j;
  }
  dice::ExactFeatureSum back = dice::ExactFeatureSum::from_limbs(d, n, s.limbs());
  EXPECT_EQ(back.sums(), s.sums());
  EXPECT_EQ(back.count(), n);
}

TEST(ExactFeatureSum, ReportsNonFiniteRows) {
  const float rows[3][2] = {{1, 2}, {3, NAN}, {5, 6}};
  dice::ExactFeatureSum s(2);
  EXPECT_EQ(s.add(&rows[0][0], 3), 1);
  EXPECT_EQ(s.count(), 1);
  EXPECT_EQ(s.sums(), (std::vector<double>{1, 2}));
}

TEST(Precompute, ParseShard) {
  dice::ShardSpec s = dice::parse_shard("2/5");
  EXPECT_EQ(s.index, 2);
  EXPECT_EQ(s.count, 5);
  EXPECT_EQ(s.begin(10), 4);
  EXPECT_EQ(s.end(10), 6);
  for (const char* bad : {"5/5", "-1/3", "1", "1/", "/3", "a/3", "1/0", "1/3x", "1 /3"})
    EXPECT_THROW(dice::parse_shard(bad), dice::Error) << bad;
}

TEST(Precompute, ShardsMergedEqualUnshardedExactly) {
  auto model = tiny_densenet();
  auto data = dice::open_dataset("gaussian:11", dice::Preprocess::cifar());
  const std::vector<double> whole = dice::precompute_mean(*model, *data, "gaussian", 4, 2, false);
  ASSERT_EQ(static_cast<int64_t>(whole.size()), model->feature_dim());

  const std::string dir = dice::test::temp_dir();
  std::vector<dice::PrecomputePart> parts;
  std::vector<std::string> names;
  for (int64_t i : {2, 0, 1}) {  // any order on the command line
    dice::PrecomputePart p = dice::precompute_part(*model, *data, "gaussian", {i, 3}, 3, 2, false);
    EXPECT_EQ(p.begin, i * 11 / 3);
    EXPECT_EQ(p.end, (i + 1) * 11 / 3);
    names.push_back(dir + "/part" + std::to_string(i) + ".npy");
    dice::write_part(names.back(), p);
    parts.push_back(dice::read_part(names.back()));
    EXPECT_EQ(parts.back().sum.limbs(), p.sum.limbs());
  }
  const std::vector<double> merged = dice::merge_parts(parts, names).mean();
  EXPECT_EQ(merged, whole);  // bit-identical, by construction

  // Against a plain float64 mean of the same features.
  dice::FeatureSet fs = dice::extract_features(*model, *data, "gaussian", 5, 2, -1, false);
  for (int64_t j = 0; j < fs.dim; ++j) {
    double s = 0;
    for (int64_t i = 0; i < fs.count; ++i) s += fs.features[static_cast<size_t>(i * fs.dim + j)];
    EXPECT_NEAR(whole[j], s / fs.count, 1e-12 * std::fabs(s / fs.count) + 1e-300) << j;
  }
}

TEST(Precompute, MoreShardsThanSamples) {
  auto model = tiny_densenet();
  auto data = dice::open_dataset("gaussian:2", dice::Preprocess::cifar());
  std::vector<dice::PrecomputePart> parts;
  for (int64_t i = 0; i < 4; ++i) parts.push_back(dice::precompute_part(*model, *data, "g", {i, 4}, 8, 1, false));
  EXPECT_EQ(parts[0].sum.count() + parts[1].sum.count() + parts[2].sum.count() + parts[3].sum.count(), 2);
  EXPECT_EQ(dice::merge_parts(parts, {"a", "b", "c", "d"}).mean(),
            dice::precompute_mean(*model, *data, "g", 8, 1, false));
}

TEST(Precompute, MergeRefusesIncompleteOrMixedParts) {
  auto model = tiny_densenet();
  auto data = dice::open_dataset("gaussian:6", dice::Preprocess::cifar());
  std::vector<dice::PrecomputePart> parts;
  for (int64_t i = 0; i < 3; ++i) parts.push_back(dice::precompute_part(*model, *data, "g", {i, 3}, 8, 1, false));
  EXPECT_EQ(error_of_merge(parts), "(no error)");
  EXPECT_NE(error_of_merge({parts[0], parts[2]}).find("got 2 part files but the run has 3 shards"), std::string::npos);
  EXPECT_NE(error_of_merge({parts[0], parts[1], parts[1]}).find("part2.npy: shard 1/3 given twice"), std::string::npos);
  auto other = tiny_densenet(6);
  std::vector<dice::PrecomputePart> mixed = parts;
  mixed[1] = dice::precompute_part(*other, *data, "g", {1, 3}, 8, 1, false);
  EXPECT_NE(error_of_merge(mixed).find("of another model"), std::string::npos) << error_of_merge(mixed);
  std::vector<dice::PrecomputePart> damaged = parts;
  damaged[2].begin += 1;
  EXPECT_NE(error_of_merge(damaged).find("part2.npy: covers samples"), std::string::npos) << error_of_merge(damaged);
}

TEST(Precompute, ReadPartRejectsOtherFiles) {
  const std::string dir = dice::test::temp_dir();
  const double v[3] = {1, 2, 3};
  dice::write_npy_f64(dir + "/stats.npy", {3}, v);
  try {
    dice::read_part(dir + "/stats.npy");
    FAIL();
  } catch (const dice::Error& e) {
    EXPECT_NE(std::string(e.what()).find("stats.npy: not a precompute part file"), std::string::npos) << e.what();
  }
  std::vector<int64_t> junk(2 * dice::ExactFeatureSum::kLimbs, 7);
  dice::write_npy_i64(dir + "/junk.npy", {2, dice::ExactFeatureSum::kLimbs}, junk.data());
  EXPECT_THROW(dice::read_part(dir + "/junk.npy"), dice::Error);
}

TEST(Precompute, CliShardsAndMergeMatchUnsharded) {
  const std::string dir = dice::test::temp_dir();
  dice::StateDict sd = dice::random_densenet_state_dict(22, 12, 10, 5);
  dice::save_safetensors(sd, dir + "/w.safetensors");
  const std::string common = "--model densenet --weights " + dir + "/w.safetensors --data gaussian:10 --threads 2 --quiet";
  std::string out;
  ASSERT_EQ(dice::test::run_dice("precompute " + common + " --out " + dir + "/whole.npy", &out), 0) << out;
  std::string parts;
  for (int i = 0; i < 3; ++i) {
    const std::string p = dir + "/p" + std::to_string(i) + ".npy";
    ASSERT_EQ(dice::test::run_dice("precompute " + common + " --batch 3 --shard " + std::to_string(i) + "/3 --out " + p, &out), 0) << out;
    parts += " " + p;
  }
  ASSERT_EQ(dice::test::run_dice("precompute --merge" + parts + " --out " + dir + "/merged.npy", &out), 0) << out;
  EXPECT_EQ(dice::read_file(dir + "/merged.npy"), dice::read_file(dir + "/whole.npy"));
  dice::NpyArray a = dice::read_npy(dir + "/whole.npy");
  EXPECT_EQ(a.descr, "<f8");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{69}));

  EXPECT_EQ(dice::test::run_dice("precompute --merge " + dir + "/p0.npy --out " + dir + "/bad.npy", &out), 1);
  EXPECT_NE(out.find("pass all of them"), std::string::npos) << out;
  EXPECT_FALSE(dice::file_exists(dir + "/bad.npy"));
  EXPECT_NE(dice::test::run_dice("precompute " + common + " --shard 3/3 --out " + dir + "/x.npy", &out), 0);
  EXPECT_NE(out.find("--shard"), std::string::npos) << out;
}

// `mpirun -n 2 dice precompute` equals the unsharded run; only in MPI builds with mpirun present.
TEST(Precompute, MpirunTwoRanksMatchesUnsharded) {
#ifndef DICE_HAVE_MPI
  GTEST_SKIP() << "built without MPI (-DDICE_HAVE_MPI)";
#else
  if (std::system("command -v mpirun > /dev/null 2>&1") != 0) GTEST_SKIP() << "mpirun not found";
  const std::string dir = dice::test::temp_dir();
  dice::save_safetensors(dice::random_densenet_state_dict(22, 12, 10, 5), dir + "/w.safetensors");
  const std::string common = "--weights " + dir + "/w.safetensors --data gaussian:7 --threads 1 --quiet";
  std::string out;
  ASSERT_EQ(dice::test::run_dice("precompute " + common + " --out " + dir + "/whole.npy", &out), 0) << out;
  const std::string cmd = "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun -n 2 --oversubscribe " +
                          std::string(DICE_BINARY) + " precompute " + common + " --out " + dir + "/mpi.npy 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[4096];
  size_t n;
  out.clear();
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ASSERT_EQ(::pclose(p), 0) << out;
  EXPECT_NE(out.find("2 MPI ranks"), std::string::npos) << out;
  EXPECT_EQ(dice::read_file(dir + "/mpi.npy"), dice::read_file(dir + "/whole.npy"));
#endif
}
