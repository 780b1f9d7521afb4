// ood/dice_mask: numpy's linear percentile bit for bit (np.percentile on arrays with ties, signed
// zeros and huge spreads), and the DICE mask against the reference's numpy computation
// (fixtures from scripts/make_ood_fixtures.py), plus the p = 0 / p = 100 edges and bad input.
#include "ood/dice_mask.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "ood_fixture.h"

namespace {

using dice::test::FixtureLine;
using dice::test::read_fixture_lines;

TEST(Percentile, MatchesNumpyBitForBit) {
  std::vector<double> array;
  int checked = 0;
  for (const FixtureLine& l : read_fixture_lines("ood/percentile.txt")) {
    if (l.key == "array") {
      array = l.nums(1);
      ASSERT_EQ(static_cast<int64_t>(array.size()), l.integer(0));
    } else if (l.key == "pct") {
      const double p = l.num(0), want = l.num(1);
      const double got = dice::percentile_linear(array, p);
      EXPECT_EQ(got, want) << "n=" << array.size() << " p=" << p << " got " << got << " want "
                           << want;
      EXPECT_NEAR(got, want, 1e-12 * std::fmax(1.0, std::fabs(want)));
      ++checked;
    }
  }
  EXPECT_GE(checked, 100);
}

TEST(Percentile, Basics) {
  EXPECT_EQ(dice::percentile_linear({5, 1, 3}, 0), 1);
  EXPECT_EQ(dice::percentile_linear({5, 1, 3}, 100), 5);
  EXPECT_EQ(dice::percentile_linear({5, 1, 3}, 50), 3);
  EXPECT_EQ(dice::percentile_linear({1, 2, 3, 4}, 50), 2.5);
  EXPECT_TRUE(std::isnan(dice::percentile_linear({1, NAN, 3}, 50)));
  EXPECT_THROW(dice::percentile_linear({}, 50), dice::Error);
  EXPECT_THROW(dice::percentile_linear({1, 2}, -1), dice::Error);
  EXPECT_THROW(dice::percentile_linear({1, 2}, 100.5), dice::Error);
  EXPECT_THROW(dice::percentile_linear({1, 2}, NAN), dice::Error);
}

TEST(DiceMask, MatchesNumpy) {
  std::vector<float> weight;
  std::vector<double> mean;
  int64_t classes = 0, features = 0;
  std::string name;
  int checked = 0;
  for (const FixtureLine& l : read_fixture_lines("ood/dice_mask.txt")) {
    if (l.key == "case") {
      name = l.values.at(0);
      classes = l.integer(1);
      features = l.integer(2);
    } else if (l.key == "weight") {
      weight.clear();
      for (double v : l.nums()) weight.push_back(static_cast<float>(v));  // exact: float32 values
      ASSERT_EQ(static_cast<int64_t>(weight.size()), classes * features);
    } else if (l.key == "mean") {
      mean = l.nums();
      ASSERT_EQ(static_cast<int64_t>(mean.size()), features);
    } else if (l.key == "p") {
      const double p = l.num(0), want_t = l.num(1);
      const int64_t want_kept = l.integer(2);
      const std::string& bits = l.values.at(3);
      ASSERT_EQ(static_cast<int64_t>(bits.size()), classes * features);
      dice::DiceMask dm = dice::dice_mask(weight.data(), classes, features, mean.data(), p);
      EXPECT_EQ(dm.threshold, want_t) << name << " p=" << p;
      EXPECT_NEAR(dm.threshold, want_t, 1e-12 * std::fmax(1.0, std::fabs(want_t)));
      EXPECT_EQ(dm.kept, want_kept) << name << " p=" << p;
      ASSERT_EQ(dm.mask.size(), bits.size());
      int64_t ones = 0, wrong = 0;
      for (size_t i = 0; i < bits.size(); ++i) {
        ones += dm.mask[i];
        wrong += dm.mask[i] != (bits[i] == '1');
      }
      EXPECT_EQ(wrong, 0) << name << " p=" << p;
      EXPECT_EQ(ones, dm.kept);
      ++checked;
    }
  }
  EXPECT_GE(checked, 10);
}

TEST(DiceMask, EdgesOfP) {
  // 2 x 3 contributions: m * W = [[1, 2, 3], [-1, 0, 3]]; the maximum 3 occurs twice.
  const float w[] = {1, 1, 1, -1, 0, 1};
  const double m[] = {1, 2, 3};
  dice::DiceMask lo = dice::dice_mask(w, 2, 3, m, 0);
  EXPECT_EQ(lo.threshold, -1);
  EXPECT_EQ(lo.kept, 5);  // everything but the minimum itself
  EXPECT_EQ(lo.mask, (std::vector<uint8_t>{1, 1, 1, 0, 1, 1}));
  dice::DiceMask hi = dice::dice_mask(w, 2, 3, m, 100);
  EXPECT_EQ(hi.threshold, 3);
  EXPECT_EQ(hi.kept, 0);  // strict '>': p = 100 keeps nothing
  EXPECT_EQ(hi.mask, std::vector<uint8_t>(6, 0));
  dice::DiceMask mid = dice::dice_mask(w, 2, 3, m, 50);
  EXPECT_EQ(mid.threshold, 1.5);
  EXPECT_EQ(mid.mask, (std::vector<uint8_t>{0, 1, 1, 0, 0, 1}));
}

TEST(DiceMask, ContributionIsFloat64) {
  // 3.0 * 0.1f: in float64 it is 0.30000000447..., below 0.3f = 0.30000001192...; in float32 it
  // would round to 0.3f itself, tie with the second contribution, and p = 0 would keep nothing.
  const float w[] = {0.1f, 0.3f};
  const double m[] = {3.0, 1.0};
  ASSERT_EQ(3.0f * 0.1f, 0.3f);
  dice::DiceMask dm = dice::dice_mask(w, 1, 2, m, 0);
  EXPECT_EQ(dm.threshold, 3.0 * static_cast<double>(0.1f));
  EXPECT_EQ(dm.kept, 1);
  EXPECT_EQ(dm.mask, (std::vector<uint8_t>{0, 1}));
}

TEST(DiceMask, RejectsBadInput) {
  const float w[] = {1, 2};
  const double m[] = {1, 1};
  const double bad_m[] = {1, NAN};
  const float bad_w[] = {1, INFINITY};
  EXPECT_THROW(dice::dice_mask(w, 1, 2, m, -0.5), dice::Error);
  EXPECT_THROW(dice::dice_mask(w, 1, 2, m, 101), dice::Error);
  EXPECT_THROW(dice::dice_mask(w, 0, 2, m, 50), dice::Error);
  EXPECT_THROW(dice::dice_mask(w, 1, -2, m, 50), dice::Error);
  EXPECT_THROW(dice::dice_mask(nullptr, 1, 2, m, 50), dice::Error);
  EXPECT_THROW(dice::dice_mask(w, 1, 2, bad_m, 50), dice::Error);
  EXPECT_THROW(dice::dice_mask(bad_w, 1, 2, m, 50), dice::Error);
}

}  // namespace
