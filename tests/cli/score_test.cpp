// `dice score` end to end on the post-hoc fixture (tests/fixtures/ood/posthoc/): the table and
// the JSON schema of issue 14, sweeps with and without a validation set, and every bad input as
// one line naming the fix, with no --json left behind.
#include <algorithm>

#include "core/file_io.h"
#include "formats/json.h"
#include "formats/npy.h"
#include "test_util.h"
#include "weights/state_dict.h"

namespace {

using dice::test::run_dice;

std::string fx(const std::string& f) { return dice::test::fixture("ood/posthoc/" + f); }

// Writes rows [from, to) of the fixture's test set as PREFIX.{features,labels}.npy.
std::string write_slice(const std::string& dir, const std::string& name, int64_t from, int64_t to) {
  const dice::NpyArray f = dice::read_npy(fx("test.features.npy"));
  const dice::NpyArray l = dice::read_npy(fx("test.labels.npy"));
  const int64_t D = f.shape[1];
  const std::vector<float> feat = dice::npy_to_float(f, "f");
  const std::vector<double> lab = dice::npy_to_double(l, "l");
  std::vector<int64_t> labels;
  for (int64_t i = from; i < to; ++i) labels.push_back(static_cast<int64_t>(lab[i]));
  const std::string prefix = dir + "/" + name;
  dice::write_npy_f32(prefix + ".features.npy", {to - from, D}, feat.data() + from * D);
  dice::write_npy_i64(prefix + ".labels.npy", {to - from}, labels.data());
  return prefix;
}

struct ScoreFiles {
  std::string dir, weights, id, ood, val, train;
  std::string base() const {
    return "score --weights " + weights + " --train " + train + " --id cifar=" + id +
           " --ood far=" + ood;
  }
};

ScoreFiles make_setup() {
  ScoreFiles s;
  s.dir = dice::test::temp_dir();
  dice::StateDict sd;
  const dice::NpyArray w = dice::read_npy(fx("fc_weight.npy"));
  dice::Tensor tw(w.shape), tb({w.shape[0]});
  tw.data = dice::npy_to_float(w, "w");
  tb.data = dice::npy_to_float(dice::read_npy(fx("fc_bias.npy")), "b");
  sd.tensors["fc.weight"] = tw;
  sd.tensors["fc.bias"] = tb;
  s.weights = s.dir + "/fc.safetensors";
  dice::save_safetensors(sd, s.weights);
  s.id = write_slice(s.dir, "id", 0, 40);
  s.ood = write_slice(s.dir, "ood", 40, 70);
  s.val = write_slice(s.dir, "val", 50, 65);
  s.train = fx("train");
  return s;
}

dice::Json json_of(const std::string& path) {
  const std::vector<uint8_t> bytes = dice::read_file(path);
  return dice::Json::parse(std::string(bytes.begin(), bytes.end()), path);
}

// Exit status 1 and exactly one line of output, naming `needle`.
void expect_error_line(const std::string& args, const std::string& needle) {
  std::string out;
  EXPECT_EQ(run_dice(args, &out), 1) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_NE(out.find(needle), std::string::npos) << "want '" << needle << "' in: " << out;
}

TEST(CliScore, TableAndJsonFollowTheIssueSchema) {
  const ScoreFiles s = make_setup();
  const std::string json = s.dir + "/r.json";
  std::string out;
  ASSERT_EQ(run_dice(s.base() + " --ood a-much-longer-ood-name=" + s.val + " --method energy" +
                         " --method knn:k=5 --method dice_react:p=30,clip=1.1 --method msp" +
                         " --feat-stat " + fx("feat_stat.npy") + " --json " + json,
                     &out),
            0)
      << out;
  for (const char* want : {"FPR95(ID+)", "FPR95(OOD+)", "OpenOOD", "knn:k=5", "energy:T=1",
                           "dice_react:p=30,percentile=90,clip=1.1", "AVG", "wall time"})
    EXPECT_NE(out.find(want), std::string::npos) << want << "\n" << out;
  // Aligned: every table row starts its first metric at the same column as the header.
  const size_t head = out.find("method");
  const size_t head_end = out.find('\n', head);
  const size_t col = out.find("FPR95(ID+)", head) - head + 10;  // the header cell's right edge
  for (size_t p = head_end + 1; out.compare(p, 10, "FPR95(ID+)") != 0;) {
    const size_t e = out.find('\n', p);
    const std::string row = out.substr(p, e - p);
    ASSERT_GT(row.size(), col) << row;
    EXPECT_NE(row[col - 1], ' ') << row;
    EXPECT_EQ(row[col], ' ') << row;
    p = e + 1;
  }
  const dice::Json j = json_of(json);
  EXPECT_EQ(j.at("id").at("name").as_string(), "cifar");
  EXPECT_EQ(j.at("id").at("count").as_int(), 40);
  EXPECT_TRUE(j.at("id").at("accuracy").is_number());
  const dice::Json& ms = j.at("methods");
  ASSERT_EQ(ms.size(), 4u);
  EXPECT_EQ(ms[1].at("name").as_string(), "knn:k=5");
  ASSERT_EQ(ms[1].at("ood").size(), 2u);
  EXPECT_EQ(ms[1].at("ood")[1].at("name").as_string(), "a-much-longer-ood-name");
  for (const char* k : {"fpr95", "fpr95_openood", "auroc", "aupr_in", "aupr_out"}) {
    const double v = ms[0].at("average").at(k).as_number();
    EXPECT_GE(v, 0.0) << k;
    EXPECT_LE(v, 1.0) << k;
    EXPECT_TRUE(ms[0].at("ood")[0].at(k).is_number()) << k;
  }
}

TEST(CliScore, SweepByPointAndSelectedOnValidation) {
  const ScoreFiles s = make_setup();
  std::string out;
  ASSERT_EQ(run_dice(s.base() + " --sweep dice:p=0:90:10", &out), 0) << out;
  EXPECT_NE(out.find("10 points"), std::string::npos) << out;
  const std::string json = s.dir + "/s.json";
  ASSERT_EQ(run_dice(s.base() + " --sweep react:percentile=50:90:20 --val-ood v=" + s.val +
                         " --json " + json,
                     &out),
            0)
      << out;
  EXPECT_NE(out.find("selected by AUROC on v"), std::string::npos) << out;
  EXPECT_NE(out.find("<- selected"), std::string::npos) << out;
  const dice::Json j = json_of(json);
  const dice::Json& sw = j.at("sweep");
  ASSERT_EQ(sw.at("points").size(), 3u);
  const std::string selected = sw.at("selected").as_string();
  double best = -1;
  std::string best_name;
  for (const dice::Json& p : sw.at("points").items()) {
    EXPECT_FALSE(p.has("average"));  // never the test sets per point
    if (p.at("val_auroc").as_number() > best)
      best = p.at("val_auroc").as_number(), best_name = p.at("name").as_string();
  }
  EXPECT_EQ(selected, best_name);
  ASSERT_EQ(j.at("methods").size(), 1u);  // the test sets at the selected point only
  EXPECT_EQ(j.at("methods")[0].at("name").as_string(), selected);
}

TEST(CliScore, BadInputsAreOneLineErrors) {
  const ScoreFiles s = make_setup();
  const std::string json = s.dir + "/never.json";
  const std::string b = s.base() + " --json " + json;
  expect_error_line(b + " --method odin", "unknown method 'odin'");
  expect_error_line(b + " --method knn:K=5", "its parameters: k");
  expect_error_line(b + " --method dice:p=120", "p must be a number in [0, 100]");
  expect_error_line(b + " --sweep dice:p=10:99", "START:STOP:STEP");
  expect_error_line(b + " --method energy --val-ood v=" + s.val, "add --sweep");
  expect_error_line(b + " --sweep dice:p=10:90:40 --val-ood v=" + s.ood, "is also a test --ood set");
  expect_error_line(b, "missing --method");
  const std::string no_train =
      "score --weights " + s.weights + " --id i=" + s.id + " --ood o=" + s.ood + " --json " + json;
  expect_error_line(no_train + " --method knn", "add --train PREFIX");
  if (!dice::cuda_unavailable_reason().empty())  // no GPU here: --device cuda fails at once
    expect_error_line(b + " --method knn --device cuda", "cuda");
  expect_error_line(no_train + " --method energy --method vim", "add --train PREFIX");
  // Files of another network or of mismatched length.
  std::vector<float> other(7 * 5, 1.0f);
  dice::write_npy_f32(s.dir + "/wide.features.npy", {7, 5}, other.data());
  std::vector<int64_t> lab(7, 0);
  dice::write_npy_i64(s.dir + "/wide.labels.npy", {7}, lab.data());
  expect_error_line(b + " --method energy --ood w=" + s.dir + "/wide", "same network");
  expect_error_line(b + " --method energy --ood m=" + s.dir + "/missing", "dice features --out PREFIX");
  std::vector<int64_t> short_labels(3, 0);
  dice::write_npy_i64(s.dir + "/ood.labels.npy", {3}, short_labels.data());
  expect_error_line(b + " --method energy", "same `dice features` run");
  EXPECT_FALSE(dice::file_exists(json));
}

TEST(CliScore, JsonMayNotReplaceAnInput) {
  const ScoreFiles s = make_setup();
  expect_error_line(s.base() + " --method energy --json " + s.id + ".features.npy", "id.features.npy");
  EXPECT_EQ(dice::read_npy(s.id + ".features.npy").shape[0], 40);
  std::string out;
  EXPECT_EQ(run_dice(s.base() + " --method energy --json " + s.dir + "/fine.json", &out), 0) << out;
}

}  // namespace

namespace {

const std::string kNet = dice::test::fixture("nn/densenet40_c10.pth.tar");  // D = 132, C = 10

// `dice eval --method SPEC`: images to the post-hoc table in one command; the classic
// `--method energy` path is unchanged and agrees with the energy SPEC's numbers.
TEST(CliScore, EvalAcceptsMethodSpecs) {
  const std::string dir = dice::test::temp_dir();
  const std::string sets = "eval --weights " + kNet + " --id gaussian:24 --ood uniform:16 --batch 8";
  std::string out;
  ASSERT_EQ(run_dice(sets + " --json " + dir + "/classic.json", &out), 0) << out;
  ASSERT_EQ(run_dice("features --weights " + kNet + " --data gaussian:60:3 --out " + dir + "/train", &out), 0)
      << out;
  ASSERT_EQ(run_dice(sets + " --method energy --method gen --method knn:k=5 --train " + dir +
                         "/train --json " + dir + "/m.json",
                     &out),
            0)
      << out;
  EXPECT_NE(out.find("FPR95(OOD+)"), std::string::npos) << out;
  const dice::Json classic = json_of(dir + "/classic.json"), m = json_of(dir + "/m.json");
  ASSERT_EQ(m.at("methods").size(), 3u);
  EXPECT_EQ(m.at("methods")[0].at("name").as_string(), "energy:T=1");
  EXPECT_EQ(m.at("methods")[2].at("name").as_string(), "knn:k=5");
  for (const char* k : {"fpr95", "auroc", "aupr_in", "aupr_out"})
    EXPECT_EQ(m.at("methods")[0].at("average").at(k).as_number(),
              classic.at("average").at(k).as_number())
        << k;
  expect_error_line(sets + " --method knn", "add --train PREFIX");
  expect_error_line(sets + " --method dice --clip 1", "--p, --clip and --report go with");
  expect_error_line(sets + " --method nonsense", "unknown method 'nonsense'");
}

}  // namespace
