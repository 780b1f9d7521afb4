// The pieces under the post-hoc methods: OpenOOD's FPR@95 against sklearn's roc_curve on
// tie-heavy sets, the symmetric eigendecomposition, the tiled top-k search against brute force,
// and the sweep (grid parsing, a point equals the method run alone, validation-set selection).
#include <algorithm>
#include <cmath>
#include <random>

#include "core/error.h"
#include "ood/linalg.h"
#include "ood/metrics.h"
#include "ood/neighbor_search.h"
#include "ood/posthoc_eval.h"
#include "ood_fixture.h"
#include "posthoc_fixture.h"

namespace {

TEST(OpenOodFpr, MatchesSklearnRocCurveOnTies) {
  std::vector<double> known, novel;
  int cases = 0;
  for (const auto& l : dice::test::read_fixture_lines("ood/posthoc/openood_fpr.txt")) {
    if (l.key == "known") known = l.nums();
    if (l.key == "novel") novel = l.nums();
    if (l.key != "fpr") continue;
    SCOPED_TRACE(cases);
    EXPECT_EQ(dice::fpr95_openood(known, novel), l.num(0));
    EXPECT_EQ(dice::compute_metrics(known, novel).fpr95_openood, l.num(0));
    ++cases;
  }
  EXPECT_EQ(cases, 10);
}

TEST(OpenOodFpr, IsNotTheReferenceFpr) {
  // ID 50..149, OOD 0..99: the two conventions count different samples.
  std::vector<double> id, ood;
  for (int i = 0; i < 100; ++i) id.push_back(i + 50), ood.push_back(i);
  const dice::OodMetrics m = dice::compute_metrics(id, ood);
  EXPECT_EQ(m.fpr95, 0.44);  // OOD strictly above K[5] = 55: 56..99
  // ID at or below the first ROC point with TPR >= 0.95. The curve is one straight diagonal
  // from conf 50 to 99, whose inner points roc_curve drops: that point is conf 99 (50 ID).
  EXPECT_EQ(m.fpr95_openood, 0.5);
  ood.resize(50);                           // 0..49: fully separated
  EXPECT_EQ(dice::compute_metrics(id, ood).fpr95_openood, 0.0);
}

TEST(SymEigen, ReconstructsAndIsOrthonormal) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> g;
  for (int64_t n : {1, 2, 7, 60}) {
    std::vector<double> b(static_cast<size_t>(n * n)), a(b.size(), 0.0);
    for (int64_t i = 0; i < n * n; ++i)  // n = 60: rank 30, so 30 repeated zero eigenvalues
      b[i] = n == 60 && i % n >= 30 ? 0.0 : g(rng);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j)
        for (int64_t k = 0; k < n; ++k) a[i * n + j] += b[i * n + k] * b[j * n + k] / n;
    const dice::SymEigen e = dice::sym_eigen(a, n);
    double err = 0, orth = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double r = 0, o = 0;
        for (int64_t k = 0; k < n; ++k) {
          r += e.vectors[k * n + i] * e.values[k] * e.vectors[k * n + j];
          o += e.vectors[i * n + k] * e.vectors[j * n + k];
        }
        err = std::max(err, std::fabs(r - a[i * n + j]));
        orth = std::max(orth, std::fabs(o - (i == j ? 1.0 : 0.0)));
      }
    EXPECT_LT(err, 1e-12 * n) << n;
    EXPECT_LT(orth, 1e-12 * n) << n;
    EXPECT_TRUE(std::is_sorted(e.values.begin(), e.values.end()));
  }
  // A diagonal matrix with a repeated value: values exact.
  const dice::SymEigen d = dice::sym_eigen({2, 0, 0, 0, 1, 0, 0, 0, 2}, 3);
  EXPECT_EQ(d.values, (std::vector<double>{1, 2, 2}));
}

TEST(NeighborSearch, TiledTopKEqualsBruteForce) {
  const dice::test::SearchCase c(37, 3 * dice::kBankTile + 11, 9, 5);  // several tiles and a tail
  for (int64_t k : {1, 5, 40}) {
    for (const float* bi : {static_cast<const float*>(nullptr), c.bias.data()}) {
      std::vector<int32_t> want;  // brute force in double
      for (int64_t i = 0; i < c.nq; ++i) {
        std::vector<std::pair<double, int32_t>> all;
        for (int64_t j = 0; j < c.nb; ++j) {
          double s = bi ? bi[j] : 0.0;
          for (int64_t d = 0; d < c.dim; ++d)
            s += static_cast<double>(c.q[i * c.dim + d]) * c.b[j * c.dim + d];
          all.emplace_back(-s, static_cast<int32_t>(j));
        }
        std::sort(all.begin(), all.end());
        for (int64_t j = 0; j < k; ++j) want.push_back(all[j].second);
      }
      dice::test::expect_same_neighbours(
          dice::top_k_neighbors(c.q.data(), c.nq, c.b.data(), c.nb, c.dim, bi, k), want, c.nq, k,
          "k " + std::to_string(k) + (bi ? ", with bias" : ""));
    }
  }
}

TEST(Sweep, ParsesGridsAndRejectsBadOnes) {
  const dice::SweepSpec s = dice::parse_sweep_spec("dice:p=10:99:1", 5, 12);
  EXPECT_EQ(s.values.size(), 90u);
  EXPECT_EQ(s.values.front(), 10);
  EXPECT_EQ(s.values.back(), 99);
  EXPECT_EQ(s.at(90, 5, 12).label(), "dice:p=90");
  const dice::SweepSpec r = dice::parse_sweep_spec("dice_react:clip=1,p=0:1:0.25", 5, 12);
  EXPECT_EQ(r.values.size(), 5u);
  EXPECT_EQ(r.at(0.5, 5, 12).label(), "dice_react:p=0.5,percentile=90,clip=1");
  for (const char* bad : {"dice", "dice:p=90", "dice:p=10:99", "dice:p=99:10:1", "dice:p=10:99:0",
                          "dice:p=10:101:1", "dice:q=1:2:1", "knn:k=1:2:0.5", "dice:p=1:2:x"})
    EXPECT_THROW(dice::parse_sweep_spec(bad, 5, 12), dice::Error) << bad;
}

TEST(Sweep, EachPointIsTheMethodAloneAndValidationPicksTheBest) {
  const dice::test::PosthocFixture p = dice::test::load_posthoc_fixture();
  // ID = the first 40 test rows, OOD = the last 30, validation = the OOD rows' first half.
  auto slice = [&](int64_t from, int64_t to, const char* name) {
    dice::CachedFeatures x;
    x.name = name;
    x.count = to - from;
    x.dim = p.test.dim;
    x.features.assign(p.test.features.begin() + from * x.dim, p.test.features.begin() + to * x.dim);
    x.labels.assign(p.test.labels.begin() + from, p.test.labels.begin() + to);
    x.logits = dice::fc_logits(p.fc, x.features.data(), x.count);
    return x;
  };
  const dice::CachedFeatures id = slice(0, 40, "id"), val = slice(40, 55, "val");
  const std::vector<dice::CachedFeatures> oods{slice(40, 70, "ood")};
  const dice::SweepSpec s = dice::parse_sweep_spec("dice:p=0:90:30", 5, 12);
  const dice::SweepResult all = dice::run_sweep(s, p.fit(), id, oods, nullptr);
  ASSERT_EQ(all.points.size(), 4u);
  EXPECT_EQ(all.selected, -1);
  for (const dice::SweepPoint& pt : all.points) {
    const dice::MethodResult alone =
        dice::evaluate_method(s.at(pt.value, 5, 12), p.fit(), id, oods);
    EXPECT_EQ(pt.result.name, alone.name);
    EXPECT_EQ(pt.result.average.auroc, alone.average.auroc);
    EXPECT_EQ(pt.result.average.fpr95, alone.average.fpr95);
  }
  const dice::SweepResult v = dice::run_sweep(s, p.fit(), id, oods, &val);
  ASSERT_GE(v.selected, 0);
  for (const dice::SweepPoint& pt : v.points) {
    EXPECT_TRUE(pt.result.ood.empty());  // the test sets are not scored per point
    EXPECT_LE(pt.val_auroc, v.points[v.selected].val_auroc);
  }
  for (int64_t i = 0; i < v.selected; ++i)  // the first of equal bests
    EXPECT_LT(v.points[i].val_auroc, v.points[v.selected].val_auroc);
}

}  // namespace
