// tests/op_cases.h derives the network rows from the architectures; these tests pin the result:
// the hand-typed tables of kernels/conv_shapes.h (still read by bench_resnet_cuda) must agree with
// it row for row, the counts must add up to the networks' convolutions (99 in DenseNet-BC-100, 53
// in ResNet-50), the DenseNet buffers must nest as nn/densenet*.cpp lays them out, and every case
// name must be unique (it names the tests).
#include "op_cases.h"

#include <gtest/gtest.h>

#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "kernels/conv_shapes.h"

namespace dice {
namespace {

using test::ConvCase;

void expect_same_shape(const ConvCase& c, const ConvShape2d& s) {
  EXPECT_EQ(c.in_channels, s.in_channels);
  EXPECT_EQ(c.out_channels, s.out_channels);
  EXPECT_EQ(c.height, s.height);
  EXPECT_EQ(c.width, s.width);
  EXPECT_EQ(c.kernel, s.kernel);
  EXPECT_EQ(c.stride, s.stride);
  EXPECT_EQ(c.pad, s.pad);
  EXPECT_EQ(c.count, s.count);
}

TEST(OpCases, ResNet50MatchesTheKernelsTable) {
  const std::vector<ConvCase> rn = test::resnet50_conv_cases();
  ASSERT_EQ(rn.size(), std::size(kResNet50ConvShapes));
  int total = 0;
  for (size_t i = 0; i < rn.size(); ++i) {
    SCOPED_TRACE(rn[i].name);
    EXPECT_EQ(rn[i].name, kResNet50ConvShapes[i].name);
    expect_same_shape(rn[i], kResNet50ConvShapes[i]);
    total += rn[i].count;
  }
  EXPECT_EQ(total, 53);
}

// kernels/conv_shapes.h marks the 3x3 convs as taking the BN+ReLU prologue; nn/densenet*.cpp runs
// them without one (bn2 + ReLU is the 1x1's epilogue), and the derived rows say what nn does.
TEST(OpCases, DenseNetBc100MatchesTheKernelsTable) {
  const std::vector<ConvCase> dn = test::densenet_conv_cases();
  ASSERT_EQ(dn.size(), std::size(kDenseNet101ConvShapes));
  int total = 0;
  for (size_t i = 0; i < dn.size(); ++i) {
    const DenseNetConvShape& d = kDenseNet101ConvShapes[i];
    SCOPED_TRACE(dn[i].name);
    EXPECT_EQ(dn[i].name, std::string("densenet_") + d.shape.name);
    expect_same_shape(dn[i], d.shape);
    EXPECT_EQ(dn[i].in_buffer_channels, d.in_buffer_channels);
    EXPECT_EQ(dn[i].out_buffer_channels, d.out_buffer_channels);
    EXPECT_EQ(dn[i].out_offset, d.out_offset);
    EXPECT_EQ(dn[i].in_offset, 0);
    if (dn[i].kernel == 1 && dn[i].name.find("trans") == std::string::npos)
      EXPECT_EQ(dn[i].fusion, test::kFuseInBn | test::kFuseOutBn | test::kFuseRelu);
    else
      EXPECT_EQ(dn[i].fusion, 0);
    total += dn[i].count;
  }
  EXPECT_EQ(total, 99);
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
