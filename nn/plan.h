// The network plan: one backend-neutral description of a network's forward, made once from a
// StateDict by an architecture's builder (nn/densenet.cpp, nn/resnet.cpp, nn/wideresnet.cpp) and
// run by any executor (nn/exec_cpu.h, nn/exec_cuda.h). Builders are the only code that reads
// checkpoint keys; executors are the only code that runs kernels.
//
// A plan is an ordered list of steps over tensors. Every tensor is float32 NCHW per image
// ([channels][height][width]); a step reads and writes channel slices of tensors (a View), so a
// DenseNet block is one tensor whose layers each write their `growth` channels into it and
// torch.cat costs nothing. The steps:
//   conv            with its fusions (kernels/conv2d.h): pre-activation relu(x*s+t) on the input,
//                   bias, post-affine, residual add, ReLU; BatchNorms are folded by the builder;
//   max_pool        PyTorch semantics (padding is -inf);
//   avg_pool        optional relu(x*s+t) on the input first (DenseNet's transition);
//   global_avg_pool optional relu(x*s+t) first; writes the features [batch][channels].
// Tensor 0 is the input image; the features tensor is the output. Both live outside the plan's
// memory (the executor's caller owns them); every other tensor is placed in one activation arena
// by liveness (assign_memory): two tensors share bytes only if no step lies in both lifetimes, so
// the activation memory of any batch is known before anything runs: batch * arena_floats() floats.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kernels/batchnorm.h"
#include "kernels/conv2d.h"
#include "kernels/pool.h"
#include "core/tensor.h"
#include "weights/state_dict.h"

namespace dice {

struct PlanTensor {
  std::string name;
  int64_t channels = 0, height = 0, width = 0;
  int first = -1, last = -1;  // the first step writing it and the last step reading it
  int64_t offset = -1;        // per-image offset in the arena, in floats (-1: outside the arena)
  int64_t floats() const { return channels * height * width; }  // per image
};

// A channel slice [channel, channel + channels) of a tensor.
struct View {
  int tensor = -1;
  int64_t channel = 0, channels = 0;
  bool valid() const { return tensor >= 0; }
};

enum class StepOp { kConv, kMaxPool, kAvgPool, kGlobalAvgPool };

struct Step {
  StepOp op = StepOp::kConv;
  std::string name;  // what profiles and --verbose call it ("stem", "layer2.0.conv2", ...)
  View in, out, residual;
  int64_t kernel = 1, stride = 1, pad = 0;
  // conv: weight [out][in][k][k] (BatchNorms after the conv already folded where the builder
  // could), optional bias, out_scale/out_shift, relu. Every op: in_scale/in_shift (relu(x*s+t)).
  std::vector<float> weight, bias, in_scale, in_shift, out_scale, out_shift;
  bool relu = false;
  double flops(int64_t batch, const std::vector<PlanTensor>& tensors) const;
};

class Plan {
 public:
  std::string name;     // "densenet101 (DenseNet-BC L=100 k=12, 10 classes)"
  std::string family;   // "densenet", "resnet", "wideresnet": which options the GPU accepts
  std::map<std::string, int64_t> facts;  // what the builder read: "depth", "growth", ...
  std::vector<PlanTensor> tensors;
  std::vector<Step> steps;
  int features = -1;  // the output tensor: [feature_dim][1][1]
  Tensor fc_weight, fc_bias;

  static constexpr int kInput = 0;
  int64_t input_size() const { return tensors.at(kInput).height; }
  int64_t input_floats() const { return tensors.at(kInput).floats(); }
  int64_t feature_dim() const { return tensors.at(static_cast<size_t>(features)).channels; }
  int64_t num_classes() const { return fc_weight.size(0); }
  int64_t fact(const std::string& key) const;  // throws when the builder did not record it

  // ---- building (used by the builders) ----
  // The input tensor (call first) and the others; returns the tensor's index.
  int add_input(int64_t channels, int64_t side);
  int add_tensor(const std::string& name, int64_t channels, int64_t height, int64_t width);
  View whole(int tensor) const;
  // Appends a step after checking its views against the tensors (and, for a conv, its weights);
  // returns its index. Output sides follow from the input's and the kernel/stride/pad.
  int add(Step step);
  // add() with the output in a new tensor named `out_name`, shaped by the step (a conv's channels
  // from step.out.channels, a pool's from its input); returns that tensor's whole view.
  View add_new(Step step, const std::string& out_name);
  // Closes the plan: marks `features`, computes lifetimes, places the tensors (assign_memory) and
  // checks every step's shapes. Builders call it last.
  void finish(int features_tensor);

  // ---- what executors read ----
  // Floats per image of the activation arena (the peak of live tensors, as placed).
  int64_t arena_floats() const { return arena_floats_; }
  // Conv2dParams of a conv step at `batch`, strides set for its slices.
  Conv2dParams conv_params(const Step& s, int64_t batch) const;
  Pool2dParams pool_params(const Step& s, int64_t batch) const;
  // Where view v starts at `batch`, in floats from the start of its buffer: the input and the
  // features live in the caller's buffers, every other tensor in the arena at offset * batch;
  // images are the tensor's floats() apart, and the slice starts `channel` planes in.
  int64_t view_offset(const View& v, int64_t batch) const {
    const PlanTensor& t = tensors.at(static_cast<size_t>(v.tensor));
    const bool outside = v.tensor == kInput || v.tensor == features;
    return (outside ? 0 : t.offset * batch) + v.channel * t.height * t.width;
  }
  int64_t batch_stride(int tensor) const { return tensors.at(static_cast<size_t>(tensor)).floats(); }
  // Total weights and biases in floats (everything the steps and the fc hold, as finished).
  int64_t parameter_floats() const { return parameter_floats_; }
  // Frees the conv weights, once an executor holds them in its own form (packed, on a device):
  // a network's weights then live once in memory. Everything else stays readable.
  void release_conv_weights();
  double flops(int64_t batch) const;
  // Several lines: the steps with their shapes, then the memory at `batch`.
  std::string describe(int64_t batch) const;
  // One line: steps, parameters, activation arena at `batch` in MB.
  std::string summary(int64_t batch) const;

  // The arena placement rounds each tensor to this many floats per image (256 bytes), so every
  // tensor of a batch starts 256-byte aligned whatever the batch size.
  static constexpr int64_t kAlignFloats = 64;

 private:
  void assign_memory();
  int64_t arena_floats_ = 0, parameter_floats_ = 0;
  bool finished_ = false;
};

// Checkpoint helpers for builders. BatchNorm `prefix` folded to a per-channel affine (eps 1e-5,
// torch's default), its four tensors checked to have `channels` entries.
BnAffine load_bn(const StateDict& sd, const std::string& prefix, int64_t channels);
// Conv `conv`.weight with BatchNorm `bn` folded in (w' = w * gamma/sqrt(var+eps),
// b' = beta - mean * gamma/sqrt(var+eps), in double): weight, bias and kernel of a conv step,
// whose weight is checked to be (out, in_channels, k, k).
Step folded_conv(const StateDict& sd, const std::string& conv, const std::string& bn,
                 int64_t in_channels, int64_t stride, int64_t pad);
// Conv `key` as it is (no BatchNorm after it), checked to be (out, in_channels, k, k).
Step plain_conv(const StateDict& sd, const std::string& key, int64_t in_channels, int64_t stride,
                int64_t pad);

}  // namespace dice
