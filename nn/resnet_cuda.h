// ResNet (torchvision layout, the ResNet-50 of the paper and the rest of the family) on the GPU.
// The plan is the CPU ResNet's (nn/resnet.h), op for op: every BatchNorm folded into its conv at
// load time (same formula, in double), the conv epilogue adds the bias, the residual and the ReLU;
// stem 7x7/2 conv + ReLU, 3x3/2 max pool (max_pool2d_cuda), the blocks, global average pool
// (global_avg_pool_cuda) -> features. The fc/DICE head stays on the CPU, as for DenseNetCuda.
//
// Convolutions, per ModelOptions:
//   ours, fp32        conv2d_cuda (exact float32 FMA), agrees with the CPU path to ~1e-6;
//   ours, tf32/fp16/bf16  conv2d_tc (tensor cores, float32 accumulation, weights packed once at
//                     construction); a layer conv2d_tc cannot implement (conv2d_tc_unsupported)
//                     falls back to conv2d_cuda, and tc_fallbacks() names such layers;
//   cudnn, fp32/tf32  cuDNN through CudnnConvLayer (fastest algorithm per shape, cached; the
//                     epilogue through cudnnConvolutionBiasActivationForward or separate calls).
// Activations are NCHW float32 in every mode, in five buffers of the largest activation carved
// from one DeviceArena per planned batch capacity.
//
// Execution: nn/cuda_plan.h's CudaPipeline (two slots, upload/compute overlap, CUDA graphs keyed
// by batch and slot). The cuDNN backend runs without graphs: its layers are planned lazily per
// batch size (cudnnFind runs kernels and allocates, which a capture forbids), and a refused fused
// call is detected at its first run; PyTorch's eager baseline does not use graphs either.
// Not thread-safe: one caller at a time, as for every Model.
#pragma once
#ifdef DICE_HAVE_CUDA
#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/cuda_memory.h"
#include "nn/cuda_plan.h"
#include "nn/model.h"

namespace dice {

class ResNetCuda : public CudaModel {
 public:
  // Validates the state dict as ResNet does (same errors), checks `options` (one-line errors), then
  // uploads the folded weights (and, for tensor-core precisions, their packed copies).
  explicit ResNetCuda(const StateDict& sd, const ModelOptions& options = {});
  ~ResNetCuda() override;
  ResNetCuda(const ResNetCuda&) = delete;
  ResNetCuda& operator=(const ResNetCuda&) = delete;

  std::string name() const override { return name_; }
  int64_t feature_dim() const override { return feature_dim_; }
  int64_t num_classes() const override { return fc_weight_.size(0); }
  int64_t input_size() const override { return kSide; }

  const ModelOptions& options() const { return options_; }
  // Layers that run on conv2d_cuda instead of conv2d_tc at `batch` (empty for fp32 and cudnn).
  std::vector<std::string> tc_fallbacks(int64_t batch) const;

  // profile_ops() (CudaModel) names the ops "stem", "maxpool", "layer2.0.conv2",
  // "layer2.0.downsample", "head", with each convolution's FLOPs.

 private:
  static constexpr int64_t kSide = 224;
  struct Conv {
    std::string name;
    int index = 0;  // position in the network, for the cuDNN layer tables
    int64_t in = 0, out = 0, kernel = 1, stride = 1, pad = 0;
    const float* weight = nullptr;  // device, folded, PyTorch layout
    const float* bias = nullptr;    // device
    const void* packed = nullptr;   // device, conv2d_tc layout (tensor-core precisions only)
  };
  struct Block {
    std::vector<Conv> convs;  // 2 (basic) or 3 (bottleneck)
    bool has_downsample = false;
    Conv downsample;
  };
  struct CudnnState;  // defined in the .cpp (empty without cuDNN)

  void grow(int64_t batch);
  void enqueue_forward(int64_t batch, const float* in, float* features, cudaStream_t stream,
                       OpTimer* timer) override;
  void run_conv(const Conv& c, int64_t batch, int64_t h, int64_t w, const float* in, float* out,
                bool relu, const float* residual, cudaStream_t stream, OpTimer* timer);
  Conv2dParams conv_params(const Conv& c, int64_t batch, int64_t h, int64_t w) const;

  std::string name_;
  ModelOptions options_;
  int64_t feature_dim_ = 0;
  int conv_count_ = 0;
  Conv stem_;
  std::vector<Block> blocks_;
  int64_t max_activation_ = 0;  // floats per image of the largest activation
  DeviceBuffer<float> params_;
  DeviceBuffer<uint8_t> packed_;
  float* buf_[5] = {nullptr, nullptr, nullptr, nullptr, nullptr};
  std::unique_ptr<CudnnState> cudnn_;
};

}  // namespace dice

#endif  // DICE_HAVE_CUDA
