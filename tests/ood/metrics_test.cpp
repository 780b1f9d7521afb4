// ood/metrics: the five metrics against a numpy transcription of the reference and sklearn's
// roc_auc_score (fixtures from scripts/make_ood_fixtures.py): integer scores with ties inside and
// across the sets, n_k chosen so that 0.05 * n_k rounds half to even, degenerate sets, float32
// energies, and two ~20k-sample sets (regenerated here with the script's LCG) whose sums span
// several of numpy's 8192-element reduction blocks.
#include "ood/metrics.h"

#include <cmath>

#include "core/error.h"
#include "ood_fixture.h"

namespace {

using dice::test::FixtureLine;
using dice::test::read_fixture_lines;

// The script's lcg_scores: float32(offset + scale * top_bits(LCG) / 2^bits), widened.
std::vector<double> lcg_scores(int64_t n, uint64_t seed, int bits, double scale, double offset) {
  std::vector<double> out;
  uint64_t state = seed;
  for (int64_t i = 0; i < n; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const double u = static_cast<double>(state >> (64 - bits)) / static_cast<double>(1ULL << bits);
    out.push_back(static_cast<double>(static_cast<float>(offset + scale * u)));
  }
  return out;
}

struct Case {
  std::string name;
  std::vector<double> id, ood;
  dice::OodMetrics want;
  double sklearn_auroc = 0;
};

std::vector<Case> load_cases() {
  std::vector<Case> cases;
  for (const FixtureLine& l : read_fixture_lines("ood/metrics.txt")) {
    if (l.key == "case") {
      cases.push_back({l.values.at(0), {}, {}, {}, 0});
    } else if (l.key == "gen") {
      Case c;
      c.name = l.values.at(0);
      const int bits = static_cast<int>(l.integer(5));
      c.id =
          lcg_scores(l.integer(1), static_cast<uint64_t>(l.integer(3)), bits, l.num(6), l.num(7));
      c.ood =
          lcg_scores(l.integer(2), static_cast<uint64_t>(l.integer(4)), bits, l.num(8), l.num(9));
      cases.push_back(c);
    } else if (l.key == "id" || l.key == "ood") {
      std::vector<double>& v = l.key == "id" ? cases.back().id : cases.back().ood;
      v = l.nums(1);
      EXPECT_EQ(static_cast<int64_t>(v.size()), l.integer(0)) << cases.back().name;
    } else if (l.key == "expect") {
      cases.back().want = {l.num(0), l.num(1), l.num(2), l.num(3), l.num(4)};
    } else if (l.key == "sklearn_auroc") {
      cases.back().sklearn_auroc = l.num(0);
    }
  }
  return cases;
}

TEST(Metrics, MatchReferenceWithin1e12) {
  std::vector<Case> cases = load_cases();
  ASSERT_GE(cases.size(), 12u);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    dice::OodMetrics m = dice::compute_metrics(c.id, c.ood);
    EXPECT_NEAR(m.fpr95, c.want.fpr95, 1e-12);
    EXPECT_NEAR(m.auroc, c.want.auroc, 1e-12);
    EXPECT_NEAR(m.auroc, c.sklearn_auroc, 1e-12);
    EXPECT_NEAR(m.aupr_in, c.want.aupr_in, 1e-12);
    EXPECT_NEAR(m.aupr_out, c.want.aupr_out, 1e-12);
    EXPECT_NEAR(m.dterr, c.want.dterr, 1e-12);
  }
}

// Same summation order as numpy: the numbers are the reference's to the last bit.
TEST(Metrics, MatchReferenceBitForBit) {
  for (const Case& c : load_cases()) {
    SCOPED_TRACE(c.name);
    dice::OodMetrics m = dice::compute_metrics(c.id, c.ood);
    EXPECT_EQ(m.fpr95, c.want.fpr95);
    EXPECT_EQ(m.auroc, c.want.auroc);
    EXPECT_EQ(m.aupr_in, c.want.aupr_in);
    EXPECT_EQ(m.aupr_out, c.want.aupr_out);
    EXPECT_EQ(m.dterr, c.want.dterr);
  }
}

TEST(Metrics, InputOrderDoesNotMatter) {
  std::vector<double> id = {3, 1, 2, 2, 5, 4, 4, 4, 0, 6}, ood = {1, 0, 2, 0, 3, -1, 2};
  dice::OodMetrics a = dice::compute_metrics(id, ood);
  std::reverse(id.begin(), id.end());
  std::swap(ood[0], ood[4]);
  dice::OodMetrics b = dice::compute_metrics(id, ood);
  EXPECT_EQ(a.fpr95, b.fpr95);
  EXPECT_EQ(a.auroc, b.auroc);
  EXPECT_EQ(a.aupr_in, b.aupr_in);
  EXPECT_EQ(a.aupr_out, b.aupr_out);
  EXPECT_EQ(a.dterr, b.dterr);
}

TEST(Metrics, Fpr95ThresholdIsStrict) {
  // n_k = 20: threshold K[1] = 1; OOD scores equal to it are not counted.
  std::vector<double> id(20, 5.0);
  id[0] = 0;
  id[1] = 1;
  EXPECT_EQ(dice::compute_metrics(id, {1, 1, 1, 2}).fpr95, 0.25);
  // n_k = 50: round(2.5) = 2, so the threshold is K[2] (K[3] would be round half up).
  std::vector<double> id50(50, 9.0);
  for (int i = 0; i < 4; ++i) id50[i] = i;
  EXPECT_EQ(dice::compute_metrics(id50, {2.5, 2.5, 0}).fpr95, 2.0 / 3.0);
}

TEST(Metrics, RejectsEmptyAndNaN) {
  EXPECT_THROW(dice::compute_metrics({}, {1.0}), dice::Error);
  EXPECT_THROW(dice::compute_metrics({1.0}, {}), dice::Error);
  EXPECT_THROW(dice::compute_metrics({1.0, NAN}, {1.0}), dice::Error);
  EXPECT_THROW(dice::compute_metrics({1.0}, {NAN}), dice::Error);
  EXPECT_NO_THROW(dice::compute_metrics({1.0, INFINITY}, {-INFINITY}));
}

TEST(Metrics, AverageIsPlainMean) {
  dice::OodMetrics a{0.1, 0.9, 0.95, 0.8, 0.2}, b{0.3, 0.7, 0.85, 0.6, 0.1},
      c{0.2, 0.8, 0.9, 0.7, 0.3};
  dice::OodMetrics m = dice::average_metrics({a, b, c});
  EXPECT_EQ(m.fpr95, ((0.0 + 0.1) + 0.3 + 0.2) / 3.0);
  EXPECT_EQ(m.auroc, ((0.0 + 0.9) + 0.7 + 0.8) / 3.0);
  EXPECT_EQ(m.aupr_in, ((0.0 + 0.95) + 0.85 + 0.9) / 3.0);
  EXPECT_EQ(m.aupr_out, ((0.0 + 0.8) + 0.6 + 0.7) / 3.0);
  EXPECT_EQ(m.dterr, ((0.0 + 0.2) + 0.1 + 0.3) / 3.0);
  EXPECT_THROW(dice::average_metrics({}), dice::Error);
}

}  // namespace
