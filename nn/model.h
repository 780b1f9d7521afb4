// The network interface the OOD code programs against: images in, penultimate features out, plus
// the fc layer's weight and bias (DICE sparsifies that layer, so the head lives in ood/, not here).
// Models are built from a StateDict; the architecture is inferred from its keys and shapes.
// A model runs on one device, picked when it is made (make_model's `device`); the OOD code above
// sees only this interface, plus the optional pipelined form of features() that lets a GPU model
// overlap the next batch's upload with the current forward.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/precision.h"
#include "core/tensor.h"
#include "weights/state_dict.h"

namespace dice {

class Plan;

enum class Device { kCpu, kCuda };
// Whose convolutions a GPU model runs: the project's kernels (the default) or cuDNN's, the vendor
// baseline (ResNet only; needs a build whose nn library links dice_vendor, see cudnn_backend_built).
enum class Backend { kOurs, kCudnn };
// How our GPU kernels hold the activations at fp16/bf16 (nn/exec_cuda.h):
//   nchw  float32 NCHW between the layers, operands rounded as conv2d_tc stages them;
//   nhwc  16-bit NHWC end to end on conv2d_nhwc (cp.async, ldmatrix), PyTorch AMP channels_last's
//         arithmetic: every activation is stored in the operand type (ResNet only);
//   auto  nhwc where the plan and precision allow it, nchw otherwise.
enum class GpuLayout { kAuto, kNchw, kNhwc };

// How a model computes, beyond the device. The CPU path is fp32 on our kernels, or bf16 where the
// CPU has AVX512-BF16 (Conv2dCpuPacked::bf16: bf16 operands, float32 sums); on the GPU,
// ResNet takes every precision on our kernels and fp32/tf32 on cuDNN; DenseNet and WideResNet
// (whose convs read pre-activated inputs, which neither conv2d_tc nor cuDNN fuses) fp32 on ours.
struct ModelOptions {
  Precision precision = Precision::kFp32;
  Backend backend = Backend::kOurs;
  GpuLayout layout = GpuLayout::kAuto;
};

// "ours" / "cudnn".
const char* backend_name(Backend backend);
// Parses "ours" or "cudnn"; throws dice::Error naming the accepted values otherwise.
Backend parse_backend(const std::string& name);
// "auto" / "nchw" / "nhwc", and its parser (dice::Error naming the accepted values otherwise).
const char* gpu_layout_name(GpuLayout layout);
GpuLayout parse_gpu_layout(const std::string& name);
// True when this build can run Backend::kCudnn (CUDA on and dice_nn linked with cuDNN).
bool cudnn_backend_built();
// Throws a one-line dice::Error when `options` cannot run on `device` for `family` ("densenet",
// "resnet", "wideresnet"): make_model calls it, the CLI calls it before loading anything.
void check_model_options(const std::string& family, Device device, const ModelOptions& options);

// "cpu" / "cuda".
const char* device_name(Device device);
// Parses "cpu", "cuda" or "cuda:N"; `index` (when given) receives N, or -1 where none was named
// (the current device). Throws dice::Error naming the accepted values otherwise.
Device parse_device(const std::string& name, int* index = nullptr);
// Throws a one-line dice::Error when `device` cannot run here: a build without the CUDA backend,
// or no GPU/driver. make_model calls it; the CLI calls it before loading anything.
void check_device_available(Device device);

// One op's time in a profile (CpuModel::profile_steps, CudaModel::profile_ops): the plan step's
// name ("stem", "bottleneck_3x3", "layer2.0.conv2", ...), milliseconds (wall clock on the CPU,
// between events on the GPU) and its FLOPs (0 for the pools).
struct OpTime {
  std::string name;
  double ms = 0, flops = 0;
};

class Model {
 public:
  virtual ~Model() = default;
  virtual std::string name() const = 0;           // e.g. "densenet101 (DenseNet-BC L=100 k=12)"
  virtual int64_t feature_dim() const = 0;        // D of the penultimate feature
  virtual int64_t num_classes() const = 0;        // C of the fc layer
  virtual int64_t input_size() const = 0;         // expected square input side (32, 224)
  // x: [batch][3][input_size][input_size] normalized floats -> features [batch][feature_dim].
  virtual void features(const float* x, int64_t batch, float* features) = 0;

  // Pipelined features(), for models whose device can work while the caller prepares the next
  // batch: up to pipeline_depth() submissions may be outstanding; submit() copies x before it
  // returns (the caller may reuse it at once) and may return before the work is done; collect()
  // waits for the oldest outstanding submission and writes its [batch][feature_dim] features.
  // Depth 0 (the default, CPU models): not supported, call features().
  virtual int pipeline_depth() const { return 0; }
  virtual void submit(const float* x, int64_t batch);
  virtual void collect(float* features);
  // The plan the model executes (nn/plan.h): its steps, facts and memory; null for a model that
  // is not plan-based (test doubles).
  virtual const Plan* plan() const { return nullptr; }
  // One forward of `batch` images x with every step timed (wall clock on the CPU, CUDA events on
  // the GPU), in plan order; the features are discarded. Empty for a model that cannot profile.
  virtual std::vector<OpTime> profile(const float* /*x*/, int64_t /*batch*/) { return {}; }
  const Tensor& fc_weight() const { return fc_weight_; }  // [classes][features]
  const Tensor& fc_bias() const { return fc_bias_; }      // [classes]

 protected:
  Tensor fc_weight_, fc_bias_;
};

// arch: "auto" (inferred from the keys), a family ("densenet", "resnet", "wideresnet") or a short
// name ("densenet101", "resnet50", "wrn40_2"), which must be what the checkpoint holds.
// Throws dice::Error naming the weight file when keys or shapes do not fit, and, for
// Device::kCuda, when the build has no CUDA backend or no GPU is present; and when `options` do not
// fit the device and architecture (check_model_options).
std::unique_ptr<Model> make_model(const std::string& arch, const StateDict& sd,
                                  Device device = Device::kCpu, const ModelOptions& options = {});

// "densenet", "resnet" or "wideresnet" from the keys alone; "" when none fits.
std::string detect_architecture(const StateDict& sd);
// The short name ("densenet101", "resnet50", "wrn40_2") of the network a checkpoint holds, from
// its keys alone (the builders then check every shape); "" when no family fits.
std::string checkpoint_short_name(const StateDict& sd);

}  // namespace dice
