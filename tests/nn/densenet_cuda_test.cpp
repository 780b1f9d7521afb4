// nn/densenet_cuda: the whole DenseNet-BC forward on the GPU against the CPU DenseNet (the spec),
// on the committed torch fixtures and on random DenseNet-BC-100 weights at odd batch sizes; graph
// replay against itself and against plain launches; re-planning when the batch size changes; the
// two-slot submit()/collect() pipeline; and the device errors of make_model.
// Outputs start as NaN so that a feature the GPU never wrote cannot pass. Skipped without a GPU,
// except the error test for a missing GPU, which runs only where there is none, and the test of
// ood's pipelined extract_features loop, which uses a CPU stand-in for a pipelined model.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/dataset.h"
#include "data/transforms.h"
#include "formats/npy.h"
#include "gpu/cuda_check.h"
#include "kernels/head.h"
#include "nn/densenet.h"
#include "nn/model.h"
#include "nn/random_weights.h"
#include "ood/evaluate.h"
#include "nn_test_util.h"
#include "test_util.h"
#include "weights/torch_checkpoint.h"
#include "nn/exec_cpu.h"
#ifdef DICE_HAVE_CUDA
#include "kernels/conv2d_tc.h"
#include "nn/exec_cuda.h"
#endif

namespace {

using dice::test::fixture;  // honours $DICE_FIXTURES (binaries carried to a GPU machine)

TEST(DenseNetCudaDevice, ClearErrorWithoutGpu) {
  if (dice::cuda_device_count() > 0) GTEST_SKIP() << "a GPU is present";
  dice::StateDict sd = dice::load_weights(fixture("nn/densenet22_c100.pth.tar"));
  try {
    dice::make_model("auto", sd, dice::Device::kCuda);
    FAIL() << "expected an error";
  } catch (const dice::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("--device cuda"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
  }
}

TEST(DenseNetCudaDevice, ParseDevice) {
  EXPECT_EQ(dice::parse_device("cpu"), dice::Device::kCpu);
  EXPECT_EQ(dice::parse_device("cuda"), dice::Device::kCuda);
  EXPECT_THROW(dice::parse_device("gpu"), dice::Error);
  int index = 7;
  EXPECT_EQ(dice::parse_device("cuda", &index), dice::Device::kCuda);
  EXPECT_EQ(index, -1);
  EXPECT_EQ(dice::parse_device("cuda:12", &index), dice::Device::kCuda);
  EXPECT_EQ(index, 12);
  for (const char* bad : {"cuda:", "cuda:x", "cuda:-1", "cuda:99999", "cpu:0"})
    EXPECT_THROW(dice::parse_device(bad, &index), dice::Error) << bad;
  EXPECT_STREQ(dice::device_name(dice::Device::kCuda), "cuda");
}

// A CPU DenseNet behind the submit()/collect() interface, deferring the work to collect() so
// that results handed back out of order or to the wrong batch would show.
class DeferredDenseNet : public dice::Model {
 public:
  explicit DeferredDenseNet(const dice::StateDict& sd) : net_(dice::densenet_plan(sd)) {
    fc_weight_ = net_.fc_weight();
    fc_bias_ = net_.fc_bias();
  }
  std::string name() const override { return "deferred " + net_.name(); }
  int64_t feature_dim() const override { return net_.feature_dim(); }
  int64_t num_classes() const override { return net_.num_classes(); }
  int64_t input_size() const override { return 32; }
  void features(const float* x, int64_t batch, float* f) override { net_.features(x, batch, f); }
  int pipeline_depth() const override { return 2; }
  void submit(const float* x, int64_t batch) override {
    ASSERT_LT(queue_.size(), 2u);
    queue_.emplace_back(x, x + batch * 3 * 32 * 32);  // copied, as the contract says
    ++submitted_;
  }
  void collect(float* f) override {
    ASSERT_FALSE(queue_.empty());
    const std::vector<float> x = std::move(queue_.front());
    queue_.pop_front();
    net_.features(x.data(), static_cast<int64_t>(x.size()) / (3 * 32 * 32), f);
  }
  int submitted_ = 0;

 private:
  dice::CpuModel net_;
  std::deque<std::vector<float>> queue_;
};

TEST(DenseNetCudaDevice, PipelinedExtractionMatchesPlain) {
  dice::StateDict sd = dice::load_weights(fixture("nn/densenet22_c100.pth.tar"));
  dice::CpuModel plain(dice::densenet_plan(sd));
  DeferredDenseNet deferred(sd);
  auto data = dice::open_dataset("gaussian:23", dice::Preprocess::cifar());
  dice::FeatureSet want = dice::extract_features(plain, *data, "g", 5, 2, -1, false);
  dice::FeatureSet got = dice::extract_features(deferred, *data, "g", 5, 2, -1, false);
  EXPECT_EQ(deferred.submitted_, 5);  // 23 samples in batches of 5
  ASSERT_EQ(got.count, 23);
  EXPECT_EQ(got.labels, want.labels);
  EXPECT_LT(dice::test::normalized_error(got.features.data(), want.features.data(),
                                         23 * got.dim, 1e-6, "features"), 1e-6);
}

#ifdef DICE_HAVE_CUDA


constexpr int64_t kImage = 3 * 32 * 32;
constexpr double kTol = 1e-4;

std::vector<float> random_images(int64_t n, uint64_t seed) {
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::normal_distribution<float> d;
  std::vector<float> x(static_cast<size_t>(n * kImage));
  for (float& v : x) v = d(rng);
  return x;
}

std::vector<float> run(dice::Model& m, const std::vector<float>& x, int64_t batch) {
  return dice::test::run_features(m, x, batch);
}
std::vector<float> logits(const dice::Model& m, const std::vector<float>& feats, int64_t batch) {
  return dice::test::run_logits(m, feats, batch);
}

using dice::test::bitwise_equal;

void check_fixture(const std::string& name, const dice::ModelOptions& o = {}) {
  dice::StateDict sd = dice::load_weights(fixture("nn/" + name + ".pth.tar"));
  auto cpu = dice::make_model("auto", sd);
  auto gpu = dice::make_model("auto", sd, dice::Device::kCuda, o);
  ASSERT_NE(dynamic_cast<dice::CudaModel*>(gpu.get()), nullptr);
  EXPECT_EQ(gpu->feature_dim(), cpu->feature_dim());
  EXPECT_EQ(gpu->num_classes(), cpu->num_classes());
  dice::NpyArray xa = dice::read_npy(fixture("nn/" + name + ".input.npy"));
  const int64_t n = xa.shape[0], d = cpu->feature_dim(), c = cpu->num_classes();
  std::vector<float> x = dice::npy_to_float(xa, "input");
  std::vector<float> fc = run(*cpu, x, n), fg = run(*gpu, x, n);
  EXPECT_LT(dice::test::normalized_error(fg.data(), fc.data(), n * d, kTol, "features"), kTol);
  std::vector<float> zc = logits(*cpu, fc, n), zg = logits(*gpu, fg, n);
  EXPECT_LT(dice::test::normalized_error(zg.data(), zc.data(), n * c, kTol, "logits"), kTol);
  // And against PyTorch directly, with the CPU test's tolerance on logits.
  std::vector<float> want = dice::npy_to_float(dice::read_npy(fixture("nn/" + name + ".logits.npy")), "logits");
  EXPECT_LT(dice::test::normalized_error(zg.data(), want.data(), n * c, kTol, "torch logits"), kTol);
}

TEST(DenseNetCuda, MatchesCpuDepth40) {
  DICE_REQUIRE_GPU();
  check_fixture("densenet40_c10");
}

TEST(DenseNetCuda, MatchesCpuDepth22Cifar100) {
  DICE_REQUIRE_GPU();
  check_fixture("densenet22_c100");
}

// 3xtf32 (every conv on conv2d_tc, three tf32 products per term) within fp32's bound of the CPU
// and of PyTorch; the other tensor-core precisions stay refused for DenseNet.
TEST(DenseNetCuda, ThreeTf32MatchesCpuAsFp32Does) {
  DICE_REQUIRE_GPU();
  if (!dice::tensor_cores_unsupported(0).empty()) DICE_GPU_SKIP(dice::tensor_cores_unsupported(0));
  dice::ModelOptions o;
  o.precision = dice::Precision::k3xTf32;
  check_fixture("densenet22_c100", o);
  dice::StateDict sd = dice::load_weights(fixture("nn/densenet22_c100.pth.tar"));
  auto gpu = dice::make_model("auto", sd, dice::Device::kCuda, o);
  auto* cuda = dynamic_cast<dice::CudaModel*>(gpu.get());
  ASSERT_NE(cuda, nullptr);
  EXPECT_TRUE(cuda->tc_fallbacks(2).empty());
  o.precision = dice::Precision::kTf32;
  EXPECT_THROW(dice::make_model("auto", sd, dice::Device::kCuda, o), dice::Error);
}

// DenseNet-BC-100 (the paper's network) with random weights; batch sizes 7, 64 then 1: the
// second grows the plan, the third reuses the larger plan with a new graph.
TEST(DenseNetCuda, MatchesCpuDepth100OddBatches) {
  DICE_REQUIRE_GPU();
  dice::StateDict sd = dice::random_densenet_state_dict(100, 12, 10, 3);
  dice::CpuModel cpu(dice::densenet_plan(sd));
  dice::CudaModel gpu(dice::densenet_plan(sd));
  EXPECT_EQ(gpu.feature_dim(), 342);
  for (int64_t batch : {7, 64, 1}) {
    SCOPED_TRACE("batch " + std::to_string(batch));
    std::vector<float> x = random_images(batch, 100 + batch);
    std::vector<float> fc = run(cpu, x, batch), fg = run(gpu, x, batch);
    EXPECT_LT(dice::test::normalized_error(fg.data(), fc.data(), batch * 342, kTol, "features"), kTol);
    std::vector<float> zc = logits(cpu, fc, batch), zg = logits(gpu, fg, batch);
    EXPECT_LT(dice::test::normalized_error(zg.data(), zc.data(), batch * 10, kTol, "logits"), kTol);
  }
}

// profile_ops times every op of one forward, in launch order, and leaves the result the same as a
// plain forward (it enqueues the same kernels between events).
TEST(DenseNetCuda, ProfileOpsTimesEveryOp) {
  DICE_REQUIRE_GPU();
  dice::StateDict sd = dice::load_weights(fixture("nn/densenet40_c10.pth.tar"));  // 6 per block
  dice::CudaModel gpu(dice::densenet_plan(sd));
  std::vector<float> x = random_images(2, 3);
  EXPECT_THROW(gpu.profile_ops(2), dice::Error);  // nothing prepared yet
  gpu.prepare(x.data(), 2);
  const std::vector<dice::OpTime> ops = gpu.profile_ops(2);
  ASSERT_EQ(ops.size(), 1u + 3 * 6 * 2 + 2 * 2 + 1);
  EXPECT_EQ(ops.front().name, "stem");
  EXPECT_EQ(ops[1].name, "bottleneck_1x1");
  EXPECT_EQ(ops[2].name, "bottleneck_3x3");
  EXPECT_EQ(ops[13].name, "transition_pool");
  EXPECT_EQ(ops[14].name, "transition_conv");
  EXPECT_EQ(ops.back().name, "head");
  for (const dice::OpTime& op : ops) EXPECT_GE(op.ms, 0.0) << op.name;
}

// Replaying a graph gives exactly the first result, and so do plain launches (same kernels).
TEST(DenseNetCuda, GraphReplayIsExact) {
  DICE_REQUIRE_GPU();
  dice::StateDict sd = dice::load_weights(fixture("nn/densenet40_c10.pth.tar"));
  dice::CudaModel gpu(dice::densenet_plan(sd));
  std::vector<float> x = random_images(5, 9);
  std::vector<float> first = run(gpu, x, 5), second = run(gpu, x, 5), third = run(gpu, x, 5);
  EXPECT_TRUE(gpu.graphs_active()) << "graph capture failed; plain launches were used";
  EXPECT_TRUE(bitwise_equal(first, second));
  EXPECT_TRUE(bitwise_equal(first, third));
  gpu.set_use_graphs(false);
  EXPECT_FALSE(gpu.graphs_active());
  EXPECT_TRUE(bitwise_equal(first, run(gpu, x, 5)));
  gpu.set_use_graphs(true);
  EXPECT_TRUE(bitwise_equal(first, run(gpu, x, 5)));
}

// Changing the batch size re-plans: growing reallocates the arena (old graphs dropped), shrinking
// reuses it. Each image's features must not depend on the batch it came in.
TEST(DenseNetCuda, BatchSizeChangesReplan) {
  DICE_REQUIRE_GPU();
  dice::StateDict sd = dice::load_weights(fixture("nn/densenet22_c100.pth.tar"));
  dice::CpuModel cpu(dice::densenet_plan(sd));
  dice::CudaModel gpu(dice::densenet_plan(sd));
  const int64_t d = gpu.feature_dim();
  std::vector<float> x = random_images(33, 4);
  std::vector<float> want = run(cpu, x, 33);
  for (int64_t batch : {3, 33, 1, 17, 33}) {
    SCOPED_TRACE("batch " + std::to_string(batch));
    std::vector<float> got = run(gpu, x, batch);
    EXPECT_LT(dice::test::normalized_error(got.data(), want.data(), batch * d, kTol, "features"), kTol);
  }
}

// submit()/collect(): two in flight, different sizes, results in submission order and equal to
// features() of each batch alone; misuse throws dice::Error.
TEST(DenseNetCuda, PipelineKeepsOrder) {
  DICE_REQUIRE_GPU();
  dice::StateDict sd = dice::load_weights(fixture("nn/densenet22_c100.pth.tar"));
  dice::CudaModel gpu(dice::densenet_plan(sd));
  ASSERT_EQ(gpu.pipeline_depth(), 2);
  const int64_t d = gpu.feature_dim();
  const int64_t sizes[4] = {6, 2, 6, 5};
  std::vector<std::vector<float>> xs, want;
  for (int i = 0; i < 4; ++i) {
    xs.push_back(random_images(sizes[i], 20 + i));
    want.push_back(run(gpu, xs.back(), sizes[i]));
  }
  std::vector<std::vector<float>> got(4);
  for (int i = 0; i < 4; ++i) got[i].assign(static_cast<size_t>(sizes[i] * d), NAN);
  gpu.submit(xs[0].data(), sizes[0]);
  gpu.submit(xs[1].data(), sizes[1]);
  EXPECT_THROW(gpu.submit(xs[2].data(), sizes[2]), dice::Error);  // both slots busy
  std::vector<float> scratch(static_cast<size_t>(6 * d));
  EXPECT_THROW(gpu.features(xs[2].data(), sizes[2], scratch.data()), dice::Error);
  gpu.collect(got[0].data());
  gpu.submit(xs[2].data(), sizes[2]);
  gpu.collect(got[1].data());
  gpu.submit(xs[3].data(), sizes[3]);
  gpu.collect(got[2].data());
  gpu.collect(got[3].data());
  EXPECT_THROW(gpu.collect(scratch.data()), dice::Error);  // nothing outstanding
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(bitwise_equal(got[i], want[i])) << "batch " << i;
}

#endif  // DICE_HAVE_CUDA

}  // namespace
