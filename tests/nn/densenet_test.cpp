// nn/densenet: logits and features against PyTorch on reduced-depth random networks (fixtures
// from scripts/make_nn_fixtures.py), and the paper's CIFAR-10 checkpoint on the 200 exact test
// images (186 correct with PyTorch).
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "kernels/conv2d.h"
#include "data/dataset.h"
#include "data/transforms.h"
#include "formats/npy.h"
#include "kernels/head.h"
#include "nn/densenet.h"
#include "nn/exec_cpu.h"
#include "nn_test_util.h"
#include "test_util.h"
#include "weights/torch_checkpoint.h"

namespace {

using dice::test::fixture;

void check_against_torch(const std::string& name, int64_t depth, int64_t classes) {
  dice::StateDict sd = dice::load_weights(fixture("nn/" + name + ".pth.tar"));
  auto model = dice::make_model("auto", sd);
  ASSERT_NE(dynamic_cast<dice::CpuModel*>(model.get()), nullptr);
  const dice::Plan* plan = model->plan();
  ASSERT_NE(plan, nullptr);
  EXPECT_EQ(plan->family, "densenet");
  EXPECT_EQ(plan->fact("depth"), depth);
  EXPECT_EQ(model->num_classes(), classes);
  dice::NpyArray x = dice::read_npy(fixture("nn/" + name + ".input.npy"));
  dice::test::expect_matches_torch(*model, dice::npy_to_float(x, "input"), x.shape[0], fixture("nn/" + name),
                                   1e-5, 1e-4);
}

}  // namespace

TEST(DenseNet, MatchesTorchDepth40) { check_against_torch("densenet40_c10", 40, 10); }
TEST(DenseNet, MatchesTorchDepth22Cifar100) { check_against_torch("densenet22_c100", 22, 100); }

// The opt-in Winograd path on all its 3x3 convs (DenseNet's 12-channel 3x3s do not use it
// by default even when it is switched on; see conv2d_winograd_pays): still within PyTorch's bound.
TEST(DenseNet, WinogradMatchesTorch) {
  const dice::ScopedCpuConvAlgo algo(dice::CpuConvAlgo::kWinogradAll);
  check_against_torch("densenet40_c10", 40, 10);
}

TEST(DenseNet, BatchSizeDoesNotChangeResults) {
  dice::StateDict sd = dice::load_weights(fixture("nn/densenet22_c100.pth.tar"));
  auto model = dice::make_model("densenet", sd);
  std::vector<float> input = dice::npy_to_float(dice::read_npy(fixture("nn/densenet22_c100.input.npy")), "x");
  const int64_t d = model->feature_dim();
  std::vector<float> all(3 * d), one(d);
  model->features(input.data(), 3, all.data());
  for (int64_t i = 0; i < 3; ++i) {
    model->features(input.data() + i * 3 * 32 * 32, 1, one.data());
    EXPECT_LT(dice::test::normalized_error(one.data(), all.data() + i * d, d, 1e-6, "batch1"), 1e-6);
  }
}

TEST(DenseNet, MissingKeyNamesFileAndKey) {
  dice::StateDict sd = dice::load_weights(fixture("nn/densenet22_c100.pth.tar"));
  sd.tensors.erase("block2.layer.1.bn2.running_var");
  try {
    dice::make_model("auto", sd);
    FAIL() << "expected an error";
  } catch (const dice::Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("block2.layer.1.bn2.running_var"), std::string::npos) << msg;
    EXPECT_NE(msg.find("densenet22_c100.pth.tar"), std::string::npos) << msg;
  }
}

// The CPU executor's profile: one entry per plan step, in order, named as the plan names them
// (with " *" for the steps run depth first, image by image, followed by one entry for copying
// their results out), convolutions with their FLOPs, and the same features as an unprofiled
// forward.
TEST(DenseNet, ProfileStepsTimesEveryStepAndChangesNothing) {
  auto model = dice::make_model("auto", dice::load_weights(fixture("nn/densenet22_c100.pth.tar")));
  auto* cpu = dynamic_cast<dice::CpuModel*>(model.get());
  ASSERT_NE(cpu, nullptr);
  const std::vector<float> x = dice::test::formula_input(3 * 3 * 32 * 32);
  const std::vector<float> plain = dice::test::run_features(*cpu, x, 3);
  std::vector<float> profiled(plain.size(), NAN);
  const std::vector<dice::OpTime> ops = cpu->profile_steps(x.data(), 3, profiled.data());
  EXPECT_TRUE(dice::test::bitwise_equal(plain, profiled));
  const dice::Plan& plan = *cpu->plan();
  ASSERT_GE(ops.size(), plan.steps.size());
  size_t i = 0, depth_first = 0, copy_out = 0;
  for (const dice::Step& st : plan.steps) {
    if (ops[i].name == "(depth-first copy-out) *") {
      EXPECT_EQ(ops[i].flops, 0.0);
      copy_out = i++;
    }
    ASSERT_LT(i, ops.size());
    const bool df = ops[i].name == st.name + " *";
    depth_first += df;
    EXPECT_TRUE(df || ops[i].name == st.name) << ops[i].name << " vs " << st.name;
    EXPECT_GE(ops[i].ms, 0.0);
    EXPECT_EQ(ops[i].flops > 0, st.op == dice::StepOp::kConv) << ops[i].name;
    ++i;
  }
  EXPECT_EQ(i, ops.size());
  // At batch >= 2 DenseNet-BC runs its leading steps depth first (nn/exec_cpu.h): they come
  // first, then the copy-out, once.
  EXPECT_GT(depth_first, 0u);
  EXPECT_EQ(copy_out, depth_first);
  EXPECT_EQ(ops.size(), plan.steps.size() + 1);
  EXPECT_DOUBLE_EQ(ops[0].flops, 2.0 * 3 * 24 * 3 * 9 * 32 * 32);  // the stem: 3 -> 2k = 24, 3x3
}

TEST(DenseNet, PaperCheckpointOnExactCifar10Images) {
  DICE_REQUIRE_ASSET(ckpt, "checkpoints/CIFAR-10/densenet/checkpoint_100.pth.tar");
  DICE_REQUIRE_ASSET(bin, "data/cifar-10-batches-bin-exact200/test_batch.bin");
  auto model = dice::make_model("densenet101", dice::load_weights(ckpt));
  EXPECT_EQ(model->feature_dim(), 342);
  auto data = dice::open_dataset(bin, dice::Preprocess::cifar());
  ASSERT_EQ(data->size(), 200);
  const int64_t n = 200, d = 342, img = 3 * 32 * 32;
  std::vector<float> x(static_cast<size_t>(n * img)), feats(static_cast<size_t>(n * d));
  for (int64_t i = 0; i < n; ++i) data->load(i, x.data() + i * img);
  model->features(x.data(), n, feats.data());
  std::vector<int32_t> pred(n);
  dice::HeadParams hp;
  hp.batch = n, hp.in_features = d, hp.classes = 10;
  dice::HeadOutputs out;
  out.argmax = pred.data();
  dice::head_cpu(hp, feats.data(), model->fc_weight().ptr(), model->fc_bias().ptr(), nullptr, out);
  int correct = 0;
  for (int64_t i = 0; i < n; ++i) correct += pred[i] == data->label(i);
  EXPECT_EQ(correct, 186) << "PyTorch classifies 186 of these 200 images correctly";
}
