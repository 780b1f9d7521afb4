// DenseNet-BC on the GPU, on the project's own CUDA kernels (conv2d_cuda, avg_pool2d_cuda,
// global_avg_pool_cuda; no cuDNN or cuBLAS). The plan and its fusions are those of the CPU
// DenseNet (nn/densenet.h), op for op, so the two agree to float rounding:
//   stem 3x3 conv into block 1's buffer; per bottleneck a 1x1 conv with bn1+ReLU on its input and
//   bn2+ReLU in its epilogue, then a 3x3 conv writing its `growth` channels into the block slice;
//   transition = avgpool2x2(relu(bn(x))) then the 1x1 conv into the next block's buffer; the head
//   relu(bn(x)) fused into the global average pool. The fc/DICE head stays on the CPU: the features
//   are tiny (342 floats an image) and ood/ applies several heads to the same features.
//
// Memory: weights and the folded BatchNorms are uploaded once, into one device buffer. Every
// activation lives in one DeviceArena sized for the largest batch seen so far (a smaller batch
// reuses the same buffers, whose per-image strides do not depend on the batch), so the steady
// state makes no cudaMalloc/cudaFree.
//
// Execution: nn/cuda_plan.h's CudaPipeline: two slots, each with a pinned staging buffer, a device
// input, a device feature buffer and a pinned feature buffer; submit() uploads on a copy stream and
// runs the forward and the download of the features on the compute stream (after an event wait),
// so the upload of batch n+1 overlaps the forward of batch n. The forward is captured into a CUDA
// graph once per (batch size, slot) and replayed; if capture fails the model warns once and
// launches the kernels directly.
// Not thread-safe: one caller at a time, as for every Model.
#pragma once
#ifdef DICE_HAVE_CUDA
#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/cuda_memory.h"
#include "nn/cuda_plan.h"
#include "nn/densenet.h"

namespace dice {

class DenseNetCuda : public CudaModel {
 public:
  static constexpr int kSlots = CudaPipeline::kSlots;

  // Validates the state dict as DenseNet does (same errors), then uploads the weights.
  explicit DenseNetCuda(const StateDict& sd);
  ~DenseNetCuda() override;
  DenseNetCuda(const DenseNetCuda&) = delete;
  DenseNetCuda& operator=(const DenseNetCuda&) = delete;

  std::string name() const override;
  int64_t feature_dim() const override { return feature_dim_; }
  int64_t num_classes() const override { return config_.num_classes; }
  int64_t input_size() const override { return 32; }
  // features / submit / collect (Model) and the test hooks come from CudaModel (nn/cuda_plan.h).

  const DenseNetConfig& config() const { return config_; }

  // profile_ops() (CudaModel) names the ops "stem", "bottleneck_1x1", "bottleneck_3x3",
  // "transition_pool", "transition_conv" and "head".

 private:
  struct Bottleneck {
    int64_t in_channels;
    const float *bn1_scale, *bn1_shift, *conv1, *bn2_scale, *bn2_shift, *conv2;  // device
  };
  struct Transition {
    int64_t in_channels, out_channels;
    const float *bn_scale, *bn_shift, *conv;  // device
  };

  // The pipeline's grow hook: re-carves the activation arena for `batch` (both streams idle).
  void grow(int64_t batch);
  void enqueue_forward(int64_t batch, const float* in, float* features, cudaStream_t stream,
                       OpTimer* timer) override;

  std::string name_;
  DenseNetConfig config_;
  int64_t feature_dim_ = 0;
  int64_t block_width_[3] = {0, 0, 0};
  std::vector<Bottleneck> blocks_[3];
  Transition trans_[2] = {};
  const float* stem_ = nullptr;
  const float *head_scale_ = nullptr, *head_shift_ = nullptr;
  DeviceBuffer<float> params_;  // every weight and folded BN, 256-byte aligned slices

  float* d_block_[3] = {nullptr, nullptr, nullptr};
  float* d_tmp_ = nullptr;   // the bottleneck's 4k-channel intermediate
  float* d_pool_ = nullptr;  // the transition's pooled relu(bn(x))
};

}  // namespace dice

#endif  // DICE_HAVE_CUDA
