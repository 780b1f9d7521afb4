// ood/method*: every registered method against the numpy transcription of its reference file
// (scripts/make_posthoc_fixtures.py), sample by sample within 1e-5 relative; the SPEC contract
// (names, defaults, labels, one-line errors); what fitting needs (--train, labels, a mean).
#include <algorithm>
#include <cmath>
#include <set>

#include "core/error.h"
#include "ood/method.h"
#include "ood_fixture.h"
#include "posthoc_fixture.h"

namespace {

using dice::MethodSpec;
using dice::parse_method_spec;
using dice::test::load_posthoc_fixture;

constexpr int64_t kC = 5, kD = 12;  // the fixture's fc layer

TEST(Methods, MatchPythonTranscriptionSampleBySample) {
  const dice::test::PosthocFixture p = load_posthoc_fixture();
  std::set<std::string> covered;
  int specs = 0;
  for (const auto& line : dice::test::read_fixture_lines("ood/posthoc/scores.txt")) {
    SCOPED_TRACE(line.key);
    const MethodSpec spec = parse_method_spec(line.key, p.fc.classes, p.fc.dim);
    auto m = dice::make_method(spec);
    m->fit(p.fit());
    const std::vector<double> got = m->score(p.test);
    const std::vector<double> want = line.nums();
    ASSERT_EQ(got.size(), want.size());
    int bad = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      const double tol = 1e-5 * std::fabs(want[i]) + 1e-12;
      if (!(std::fabs(got[i] - want[i]) <= tol) && bad++ < 3)
        ADD_FAILURE() << "sample " << i << ": got " << got[i] << ", want " << want[i];
    }
    EXPECT_EQ(bad, 0);
    covered.insert(spec.name);
    ++specs;
  }
  EXPECT_GE(specs, 25);
  for (const std::string& name : dice::method_names())
    EXPECT_TRUE(covered.count(name)) << name << " has no fixture line";
}

TEST(Methods, DefaultsAreTheContract) {
  const std::pair<const char*, const char*> cases[] = {
      {"msp", "msp"},
      {"energy", "energy:T=1"},
      {"dice", "dice:p=90"},
      {"react", "react:percentile=90"},
      {"react:clip=1.5", "react:percentile=90,clip=1.5"},
      {"dice_react", "dice_react:p=90,percentile=90"},
      {"ash_b", "ash_b:percentile=90"},
      {"scale", "scale:percentile=85"},
      {"gen", "gen:gamma=0.1,M=5"},
      {"gradnorm", "gradnorm:T=1"},
      {"knn", "knn:k=50"},
      {"knn:k=7", "knn:k=7"},
      {"vim", "vim:dim=6"},
      {"nnguide", "nnguide:k=100"},
      {"mahalanobis", "mahalanobis"},
  };
  for (const auto& [in, label] : cases) EXPECT_EQ(parse_method_spec(in, kC, kD).label(), label);
  EXPECT_EQ(parse_method_spec("gen", 1000, 2048).label(), "gen:gamma=0.1,M=100");
  EXPECT_EQ(parse_method_spec("vim", 1000, 2048).label(), "vim:dim=1000");
  EXPECT_EQ(parse_method_spec("vim", 100, 1024).label(), "vim:dim=512");
  // Given keys land in registry order whatever the order written.
  EXPECT_EQ(parse_method_spec("dice_react:clip=1,p=10", kC, kD).label(),
            "dice_react:p=10,percentile=90,clip=1");
  EXPECT_EQ(dice::method_names().size(), 18u);
}

void expect_spec_error(const std::string& spec, const std::string& needle) {
  try {
    parse_method_spec(spec, kC, kD);
    ADD_FAILURE() << spec << " was accepted";
  } catch (const dice::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(Methods, BadSpecsAreOneLineErrors) {
  expect_spec_error("odin", "use one of: msp, maxlogit");
  expect_spec_error("knn:K=5", "its parameters: k");
  expect_spec_error("msp:T=2", "it takes none");
  expect_spec_error("dice:p=101", "p must be a number in [0, 100]");
  expect_spec_error("knn:k=2.5", "an integer");
  expect_spec_error("knn:k=0", "k must be an integer");
  expect_spec_error("dice:p=ninety", "not a number");
  expect_spec_error("dice:p", "not key=value");
  expect_spec_error("dice:", "ends with ':'");
  expect_spec_error("dice:p=1,p=2", "sets p twice");
  expect_spec_error("gen:M=6", "at most the number of classes");
  expect_spec_error("vim:dim=12", "below the feature dimension");
}

TEST(Methods, FittingSaysWhatIsMissing) {
  dice::test::PosthocFixture p = load_posthoc_fixture();
  const dice::FitInputs bare{&p.fc, nullptr, nullptr};
  for (const char* name : {"knn", "react", "mahalanobis", "vim", "rmds", "fdbd", "nnguide", "dice"}) {
    SCOPED_TRACE(name);
    auto m = dice::make_method(parse_method_spec(name, kC, kD));
    try {
      m->fit(bare);
      ADD_FAILURE() << "fitted without --train";
    } catch (const dice::Error& e) {
      EXPECT_NE(std::string(e.what()).find("--train"), std::string::npos) << e.what();
    }
  }
  // Methods that need no training set score from the fc layer alone.
  for (const char* name : {"msp", "energy", "gen", "ash_s", "scale", "gradnorm", "react:clip=1"}) {
    auto m = dice::make_method(parse_method_spec(name, kC, kD));
    EXPECT_FALSE(dice::method_needs_train(parse_method_spec(name, kC, kD))) << name;
    m->fit(bare);
    EXPECT_EQ(m->score(p.test).size(), static_cast<size_t>(p.test.count));
  }
  // Class statistics need labels of every class.
  p.train.labels[3] = -1;
  auto maha = dice::make_method(parse_method_spec("mahalanobis", kC, kD));
  EXPECT_THROW(maha->fit(p.fit()), dice::Error);
  // k beyond the bank, and a percentile that keeps nothing.
  auto knn = dice::make_method(parse_method_spec("knn:k=151", kC, kD));
  EXPECT_THROW(knn->fit(p.fit()), dice::Error);
  auto ash = dice::make_method(parse_method_spec("ash_b:percentile=100", kC, kD));
  EXPECT_THROW(ash->fit(p.fit()), dice::Error);
}

// Without --feat-stat DICE's mask comes from the train mean; with it, from --feat-stat.
TEST(Methods, DiceWithoutFeatStatUsesTrainMean) {
  const dice::test::PosthocFixture p = load_posthoc_fixture();
  auto a = dice::make_method(parse_method_spec("dice:p=80", kC, kD));
  a->fit(dice::FitInputs{&p.fc, &p.train, nullptr});
  auto b = dice::make_method(parse_method_spec("dice:p=80", kC, kD));
  std::vector<double> mean = dice::feature_mean(p.train);
  b->fit(dice::FitInputs{&p.fc, nullptr, &mean});
  EXPECT_EQ(a->score(p.test), b->score(p.test));
  auto c = dice::make_method(parse_method_spec("dice:p=80", kC, kD));
  std::reverse(mean.begin(), mean.end());
  c->fit(dice::FitInputs{&p.fc, &p.train, &mean});  // --feat-stat wins over the train mean
  EXPECT_NE(a->score(p.test), c->score(p.test));
}

}  // namespace
