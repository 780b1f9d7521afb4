// nn/random_weights: the random WideResNet has the key set and shapes of a torch.save of the
// Outlier Exposure WideResNet (fixture wrn16_1.pth from scripts/make_wrn_fixtures.py, read through
// the library's own checkpoint reader), is reproducible from its seed, and refuses depths that
// the architecture does not have.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "nn/random_weights.h"
#include "test_util.h"
#include "weights/state_dict.h"

namespace {

using Shapes = std::map<std::string, std::vector<int64_t>>;

Shapes shapes_of(const dice::StateDict& sd) {
  Shapes s;
  for (const auto& [key, t] : sd.tensors) s[key] = t.shape;
  return s;
}

TEST(RandomWeights, WideResNetMatchesTorchStateDict) {
  const dice::StateDict want = dice::load_weights(dice::test::fixture("nn/wrn16_1.pth"));
  const dice::StateDict got = dice::random_wideresnet_state_dict(16, 1, 10, 1);
  const Shapes ws = shapes_of(want), gs = shapes_of(got);
  for (const auto& [key, shape] : ws) {
    auto it = gs.find(key);
    if (it == gs.end()) {
      ADD_FAILURE() << "missing " << key;
      continue;
    }
    EXPECT_EQ(it->second, shape) << key << ": got " << dice::shape_to_string(it->second)
                                 << ", torch has " << dice::shape_to_string(shape);
  }
  for (const auto& [key, shape] : gs)
    EXPECT_TRUE(ws.count(key)) << "extra " << key << " " << dice::shape_to_string(shape);
  // Guards against a vacuous pass (an empty reader result): WRN-16-1 has 2 shortcuts (block1
  // keeps its width), 6 blocks of 2 BatchNorms plus the final one (5 entries each), 6x2 convs +
  // the stem, fc weight and bias.
  EXPECT_EQ(ws.size(), 2u + 13u * 5u + 13u + 2u);
  EXPECT_EQ(ws.at("block2.layer.0.convShortcut.weight"), (std::vector<int64_t>{32, 16, 1, 1}));
  EXPECT_EQ(ws.at("fc.weight"), (std::vector<int64_t>{10, 64}));
}

TEST(RandomWeights, WideResNetWidenOneHasNoFirstStageShortcut) {
  const dice::StateDict sd = dice::random_wideresnet_state_dict(28, 1, 100, 2);
  EXPECT_FALSE(sd.has("block1.layer.0.convShortcut.weight"));
  EXPECT_TRUE(sd.has("block2.layer.0.convShortcut.weight"));
  EXPECT_TRUE(sd.has("block3.layer.3.conv2.weight"));
  EXPECT_FALSE(sd.has("block3.layer.4.conv2.weight"));
  EXPECT_EQ(sd.at("fc.weight").shape, (std::vector<int64_t>{100, 64}));
}

TEST(RandomWeights, WideResNetIsReproducibleFromSeed) {
  const dice::StateDict a = dice::random_wideresnet_state_dict(16, 2, 10, 7);
  const dice::StateDict b = dice::random_wideresnet_state_dict(16, 2, 10, 7);
  const dice::StateDict c = dice::random_wideresnet_state_dict(16, 2, 10, 8);
  EXPECT_EQ(a.at("block3.layer.1.conv2.weight").data, b.at("block3.layer.1.conv2.weight").data);
  EXPECT_NE(a.at("block3.layer.1.conv2.weight").data, c.at("block3.layer.1.conv2.weight").data);
}

TEST(RandomWeights, WideResNetRefusesImpossibleDepth) {
  try {
    dice::random_wideresnet_state_dict(17, 2, 10, 1);
    FAIL() << "no error";
  } catch (const dice::Error& e) {
    EXPECT_NE(std::string(e.what()).find("6n+4"), std::string::npos) << e.what();
  }
}

}  // namespace
