// nn/wideresnet: the third family, a builder only (nn/wideresnet.cpp), run by the same executors
// as DenseNet and ResNet. Checked against PyTorch on a random WRN-16-1 (the Outlier Exposure
// reference's WideResNet; fixture from scripts/make_wrn_fixtures.py) on the CPU and, where a GPU
// (or cuda_emu) runs, on the CUDA executor; the family's detection and names; one-line errors for
// damaged checkpoints; and `dice eval --model wrn16_1` end to end.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "nn/exec_cpu.h"
#include "nn/model.h"
#include "nn/plan.h"
#include "nn/random_weights.h"
#include "nn/wideresnet.h"
#include "nn_test_util.h"
#include "test_util.h"
#include "weights/state_dict.h"
#include "weights/torch_checkpoint.h"
#ifdef DICE_HAVE_CUDA
#include "nn/exec_cuda.h"
#endif

namespace {

using dice::test::fixture;

constexpr int64_t kBatch = 2, kSide = 32;

dice::StateDict wrn16_1() { return dice::load_weights(fixture("nn/wrn16_1.pth")); }

std::vector<float> formula_input() { return dice::test::formula_input(kBatch * 3 * kSide * kSide); }

std::string error_of(const dice::StateDict& sd, const std::string& arch) {
  try {
    dice::make_model(arch, sd);
  } catch (const dice::Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(WideResNet, MatchesTorchWrn16_2) {
  const dice::StateDict sd = wrn16_1();
  EXPECT_EQ(dice::detect_architecture(sd), "wideresnet");
  EXPECT_EQ(dice::checkpoint_short_name(sd), "wrn16_1");
  auto model = dice::make_model("auto", sd);
  ASSERT_NE(dynamic_cast<dice::CpuModel*>(model.get()), nullptr);
  const dice::Plan* plan = model->plan();
  ASSERT_NE(plan, nullptr);
  EXPECT_EQ(plan->family, "wideresnet");
  EXPECT_EQ(plan->fact("depth"), 16);
  EXPECT_EQ(plan->fact("widen"), 1);
  EXPECT_EQ(model->name(), "wrn16_1 (WideResNet-16-1, 10 classes)");
  EXPECT_EQ(model->input_size(), kSide);
  ASSERT_EQ(model->feature_dim(), 64);  // 64 * widen
  ASSERT_EQ(model->num_classes(), 10);
  dice::test::expect_matches_torch(*model, formula_input(), kBatch, fixture("nn/wrn16_1"), 1e-4, 1e-4);
}

TEST(WideResNet, NamedDepthMustMatchTheCheckpoint) {
  const dice::StateDict sd = wrn16_1();
  EXPECT_EQ(dice::make_model("wrn16_1", sd)->feature_dim(), 64);
  EXPECT_EQ(dice::make_model("wideresnet", sd)->feature_dim(), 64);
  const std::string msg = error_of(sd, "wrn40_2");
  EXPECT_NE(msg.find("holds a wrn16_1, not a wrn40_2"), std::string::npos) << msg;
  // Other families' checkpoints are not mistaken for a WideResNet, nor it for them.
  EXPECT_EQ(dice::detect_architecture(dice::load_weights(fixture("nn/densenet22_c100.pth.tar"))), "densenet");
  EXPECT_EQ(dice::detect_architecture(dice::load_weights(fixture("nn/resnet18w4.zip.pth"))), "resnet");
  EXPECT_EQ(error_of(sd, "densenet").find("(no error)"), std::string::npos);
}

// The paper-size networks of the OOD literature, from random weights in the reference's layout:
// what the builder reads and the plan's shapes (no forward: WRN-28-10 is 36M parameters).
TEST(WideResNet, ReferenceSizesFromRandomWeights) {
  struct Case { int64_t depth, widen, features; const char* name; };
  for (const Case& c : {Case{40, 2, 128, "wrn40_2"}, Case{28, 10, 640, "wrn28_10"}}) {
    SCOPED_TRACE(c.name);
    const dice::StateDict sd = dice::random_wideresnet_state_dict(c.depth, c.widen, 100, 1);
    EXPECT_EQ(dice::checkpoint_short_name(sd), c.name);
    const dice::Plan plan = dice::wideresnet_plan(sd);
    EXPECT_EQ(plan.feature_dim(), c.features);
    EXPECT_EQ(plan.num_classes(), 100);
    EXPECT_EQ(plan.fact("layers_per_block"), (c.depth - 4) / 6);
    // stem + per layer conv1, conv2 (+ one shortcut in blocks 1-3 where the width changes) + head
    EXPECT_EQ(plan.steps.size(), static_cast<size_t>(1 + 3 * 2 * plan.fact("layers_per_block") + 3 + 1));
  }
}

TEST(WideResNet, DamagedCheckpointsAreOneLineErrors) {
  dice::StateDict sd = wrn16_1();
  sd.tensors.erase("block2.layer.1.bn2.running_var");
  std::string msg = error_of(sd, "auto");
  EXPECT_NE(msg.find("block2.layer.1.bn2.running_var"), std::string::npos) << msg;
  EXPECT_NE(msg.find("wrn16_1.pth"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;

  sd = wrn16_1();
  sd.tensors.at("block3.layer.0.conv2.weight") = dice::Tensor({64, 64, 3, 1});
  msg = error_of(sd, "auto");
  EXPECT_NE(msg.find("block3.layer.0.conv2.weight has shape"), std::string::npos) << msg;

  sd = wrn16_1();
  sd.tensors.erase("block2.layer.0.convShortcut.weight");
  msg = error_of(sd, "wideresnet");
  EXPECT_NE(msg.find("convShortcut"), std::string::npos) << msg;
}

TEST(WideResNet, EvalRunsEndToEnd) {
  const std::string dir = dice::test::temp_dir();
  std::string out;
  const int rc = dice::test::run_dice("eval --model wrn16_1 --weights " + fixture("nn/wrn16_1.pth") +
                                          " --id gaussian:12 --ood uniform:10 --batch 5 --verbose", &out);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("wrn16_1 (WideResNet-16-1, 10 classes)"), std::string::npos) << out;
  EXPECT_NE(out.find("Energy"), std::string::npos) << out;
  EXPECT_NE(out.find("activation"), std::string::npos) << out;  // --verbose: the plan's memory
}

TEST(WideResNet, FeaturesProfileNamesEveryStep) {
  const std::string dir = dice::test::temp_dir();
  std::string out;
  const int rc = dice::test::run_dice("features --model wrn16_1 --weights " + fixture("nn/wrn16_1.pth") +
                                          " --data gaussian:4 --batch 4 --profile --out " + dir + "/f", &out);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("profile: wrn16_1"), std::string::npos) << out;
  for (const char* step : {" stem ", "block2.layer.0.shortcut", "block3.layer.1.conv2", " head "})
    EXPECT_NE(out.find(step), std::string::npos) << step << " missing from\n" << out;
  EXPECT_NE(out.find("GFLOP/s"), std::string::npos) << out;
}

#ifdef DICE_HAVE_CUDA
TEST(WideResNetCuda, MatchesCpuAndTorch) {
  DICE_REQUIRE_GPU();
  const dice::StateDict sd = wrn16_1();
  dice::CpuModel cpu(dice::wideresnet_plan(sd));
  dice::CudaModel gpu(dice::wideresnet_plan(sd));
  const std::vector<float> x = formula_input();
  const std::vector<float> fc = dice::test::run_features(cpu, x, kBatch);
  const std::vector<float> fg = dice::test::run_features(gpu, x, kBatch);
  EXPECT_LT(dice::test::normalized_error(fg.data(), fc.data(), kBatch * 64, 1e-5, "features"), 1e-5);
  dice::test::expect_matches_torch(gpu, x, kBatch, fixture("nn/wrn16_1"), 1e-4, 1e-4);
  // Only fp32 on our kernels: the pre-activated convs have no tensor-core or cuDNN form.
  dice::ModelOptions fp16;
  fp16.precision = dice::Precision::kFp16;
  EXPECT_THROW(dice::CudaModel(dice::wideresnet_plan(sd), fp16), dice::Error);
}
#endif

}  // namespace
