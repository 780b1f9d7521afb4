// tests/op_cases.h derives the network rows from the architectures; these tests pin them to what
// the networks really run: every row is a conv step of the plan nn/ builds for that network (the
// same shapes, channel slices and, for DenseNet, fusions), the ResNet-50 rows with their counts
// are exactly its convs, the DenseNet counts add up to its 99, and every case name is unique (it
// names the tests).
#include "op_cases.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "nn/densenet.h"
#include "nn/plan.h"
#include "nn/random_weights.h"
#include "nn/resnet.h"

namespace dice {
namespace {

using test::ConvCase;

// What identifies a conv's work: shape, slices (batch strides at batch 1) and fusions.
using ConvKey = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int>;

ConvKey key_of(const Conv2dParams& p, int fusion) {
  return {p.in_channels, p.out_channels, p.height, p.width, p.kernel, p.stride, p.pad,
          p.in_stride(), p.out_stride(), fusion};
}

int fusion_of(const Step& s) {
  return (s.in_scale.empty() ? 0 : test::kFuseInBn) | (s.bias.empty() ? 0 : test::kFuseBias) |
         (s.out_scale.empty() ? 0 : test::kFuseOutBn) | (s.residual.valid() ? test::kFuseResidual : 0) |
         (s.relu ? test::kFuseRelu : 0);
}

// The plan's convs, as keys with how often each occurs. ResNet rows stand for the heaviest
// epilogue of the convs they merge (ConvCase::fusion), so `with_fusion` false leaves fusions out.
std::map<ConvKey, int> plan_convs(const Plan& plan, bool with_fusion) {
  std::map<ConvKey, int> m;
  for (const Step& s : plan.steps)
    if (s.op == StepOp::kConv) ++m[key_of(plan.conv_params(s, 1), with_fusion ? fusion_of(s) : 0)];
  return m;
}

TEST(OpCases, ResNet50RowsAreItsConvs) {
  const Plan plan = resnet_plan(random_resnet_state_dict({3, 4, 6, 3}, 64, 1000, 1));
  std::map<ConvKey, int> rows;
  for (const ConvCase& c : test::resnet50_conv_cases()) rows[key_of(c.params(1), 0)] += c.count;
  EXPECT_EQ(rows, plan_convs(plan, false));
}

TEST(OpCases, DenseNetRowsAreItsConvs) {
  for (int depth : {40, 100}) {
    SCOPED_TRACE(depth);
    const Plan plan = densenet_plan(random_densenet_state_dict(depth, 12, 10, 1));
    const std::map<ConvKey, int> convs = plan_convs(plan, true);
    int total = 0, steps = 0;
    for (const ConvCase& c : test::densenet_conv_cases(depth, 12)) {
      EXPECT_EQ(convs.count(key_of(c.params(1), c.fusion)), 1u) << c.name << " is no conv of the plan";
      total += c.count;
    }
    for (const auto& kv : convs) steps += kv.second;
    EXPECT_EQ(total, steps);
  }
}

TEST(OpCases, DenseNetOfOtherDepthsAddsUp) {
  for (int depth : {22, 40, 100, 190}) {
    SCOPED_TRACE(depth);
    const int n = (depth - 4) / 6;  // odd for 22 (3) and 190 (31)
    int total = 0;
    for (const ConvCase& c : test::densenet_conv_cases(depth, 12)) {
      total += c.count;
      EXPECT_LE(c.in_offset + c.in_channels, c.in_buffer_channels) << c.name;
      EXPECT_LE(c.out_offset + c.out_channels, c.out_buffer_channels) << c.name;
    }
    EXPECT_EQ(total, 1 + 3 * 2 * n + 2);
  }
}

TEST(OpCases, NamesAreUnique) {
  std::set<std::string> names;
  for (const ConvCase& c : test::conv_cases())
    EXPECT_TRUE(names.insert("conv/" + c.name).second) << c.name;
  for (const test::PoolCase& c : test::pool_cases())
    EXPECT_TRUE(names.insert("pool/" + c.name).second) << c.name;
  for (const test::GapCase& c : test::gap_cases())
    EXPECT_TRUE(names.insert("gap/" + c.name).second) << c.name;
  for (const test::HeadCase& c : test::head_cases())
    EXPECT_TRUE(names.insert("head/" + c.name).second) << c.name;
}

}  // namespace
}  // namespace dice
