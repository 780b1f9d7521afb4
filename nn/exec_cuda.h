// The CUDA executor: a Model that runs any Plan (nn/plan.h) on the GPU. The fc/DICE head stays on
// the CPU: the features are small and ood/ applies several heads to the same features.
//
// Convolutions, per ModelOptions (check_model_options says which a plan's family accepts):
//   ours, fp32           conv2d_cuda (exact float32 FMA), agrees with the CPU executor to ~1e-6;
//   ours, tf32/fp16/bf16 conv2d_tc (tensor cores, float32 accumulation, weights packed once here);
//                        a step conv2d_tc cannot implement (conv2d_tc_unsupported: pre-activation
//                        BN, channel slices, ...) falls back to conv2d_cuda, and tc_fallbacks()
//                        names such steps;
//   ours, fp16/bf16 in NHWC (ModelOptions::layout nhwc, or auto where the plan allows it)
//                        every activation 16-bit NHWC, each tensor's channels padded with zeros
//                        to a multiple of 8 (the image's 3 to 8): the image converted once
//                        (nchw_to_nhwc16), each conv on conv2d_nhwc, the max pool and the global
//                        pool on kernels/nhwc.h, the features float32. All or nothing:
//                        nhwc_unsupported(plan) says why a plan cannot (pre-activation BN, channel
//                        slices off a multiple of 8, an average pool);
//   cudnn, fp32/tf32     cuDNN through CudnnConvLayer, the vendor baseline (fastest algorithm per
//                        shape, cached per batch size). cuDNN has no pre-activation prologue, so
//                        only plans without one (ResNet) run on it.
// Pools run on the project's kernels in every mode. Activations are NCHW float32 except in NHWC
// mode, where a tensor of the plan occupies the same arena bytes as 16-bit NHWC (half its float32
// size), and the converted image sits after the arena.
//
// Memory: every weight, bias and folded BN is uploaded once into one device buffer (and the
// tensor-core operands once into another); the plan's host copy of the conv weights is then
// released. The activations live in one DeviceArena of batch * plan.arena_floats() floats (the
// plan's placement by liveness), carved for the largest batch seen, so the steady state makes no
// cudaMalloc/cudaFree.
//
// Execution: nn/cuda_pipeline.h's CudaPipeline (two slots, upload/compute overlap, CUDA graphs
// keyed by batch and slot). The cuDNN backend runs without graphs: its layers are planned lazily
// per batch size (cudnnFind runs kernels and allocates, which a capture forbids); PyTorch's eager
// baseline does not use graphs either. Not thread-safe: one caller at a time, as for every Model.
#pragma once
#ifdef DICE_HAVE_CUDA
#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/conv2d.h"
#include "gpu/cuda_memory.h"
#include "nn/cuda_pipeline.h"
#include "nn/model.h"
#include "nn/plan.h"

namespace dice {

class CudaModel : public Model {
 public:
  // Checks `options` against the plan's family and the device (one-line errors), then uploads
  // the weights (and, for tensor-core precisions, their packed copies).
  explicit CudaModel(Plan plan, const ModelOptions& options = {});
  ~CudaModel() override;
  CudaModel(const CudaModel&) = delete;
  CudaModel& operator=(const CudaModel&) = delete;

  std::string name() const override { return name_; }
  int64_t feature_dim() const override { return plan_.feature_dim(); }
  int64_t num_classes() const override { return plan_.num_classes(); }
  int64_t input_size() const override { return plan_.input_size(); }
  const Plan* plan() const override { return &plan_; }
  void features(const float* x, int64_t batch, float* features) override {
    pipeline_->features(x, batch, features);
  }
  int pipeline_depth() const override { return CudaPipeline::kSlots; }
  void submit(const float* x, int64_t batch) override { pipeline_->submit(x, batch); }
  void collect(float* features) override { pipeline_->collect(features); }

  const ModelOptions& options() const { return options_; }
  // Whether this model runs in 16-bit NHWC (see the top of the file).
  bool nhwc() const { return nhwc_; }
  // Empty when every step of `plan` can run in 16-bit NHWC; otherwise the first step that cannot,
  // and why (one line).
  static std::string nhwc_unsupported(const Plan& plan);
  // Conv steps that run on conv2d_cuda instead of conv2d_tc at `batch` (empty for fp32, cudnn).
  std::vector<std::string> tc_fallbacks(int64_t batch) const;

  // ---- for tests and benchmarks ----
  // Graphs on (default) or off; turning them off frees the captured graphs.
  void set_use_graphs(bool on) { pipeline_->set_use_graphs(on); }
  bool graphs_active() const { return pipeline_->graphs_active(); }
  // Makes the memory for `batch` (as submit() would) and uploads x into slot 0's device input.
  void prepare(const float* x, int64_t batch) { pipeline_->prepare(x, batch); }
  // Enqueues one forward of slot 0 at `batch` (<= the prepared batch) on stream(), through the
  // graph when graphs are active; no copies, no synchronisation (time it with events on stream()).
  void enqueue_forward_slot0(int64_t batch) { pipeline_->enqueue_forward_slot0(batch); }
  cudaStream_t stream() const { return pipeline_->stream(); }
  // Device memory of the activation arena and the slots' inputs and features, in bytes.
  size_t arena_bytes() const { return arena_.capacity() + pipeline_->io_bytes(); }
  // One forward of slot 0 at `batch` (after prepare()) with plain launches and a pair of events
  // around each step, named as the plan names them, convolutions with their FLOPs.
  std::vector<OpTime> profile_ops(int64_t batch);
  // prepare(x, batch), then profile_ops(batch).
  std::vector<OpTime> profile(const float* x, int64_t batch) override;

 private:
  struct DeviceStep {  // a step's parameters on the device (nullptr where the step has none)
    const float *weight = nullptr, *bias = nullptr, *in_scale = nullptr, *in_shift = nullptr;
    const float *out_scale = nullptr, *out_shift = nullptr;
    const void* packed = nullptr;  // conv2d_tc operand (tensor-core precisions only)
  };
  struct CudnnState;  // defined in the .cpp (empty without cuDNN)

  void grow(int64_t batch);
  void enqueue_forward(int64_t batch, const float* in, float* features, cudaStream_t stream,
                       OpTimer* timer);
  void run_conv(size_t i, int64_t batch, const float* in, float* out, const float* residual,
                cudaStream_t stream);
  ConvFusion fusion(size_t i, const float* residual) const;
  void enqueue_forward_nhwc(int64_t batch, const float* in, float* features, cudaStream_t stream,
                            OpTimer* timer);

  Plan plan_;
  std::string name_;
  ModelOptions options_;
  std::vector<DeviceStep> dev_;
  DeviceBuffer<float> params_;
  DeviceBuffer<uint8_t> packed_;
  DeviceArena arena_;
  float* base_ = nullptr;  // the arena's activations at the planned capacity
  bool nhwc_ = false;
  std::vector<int64_t> ldc_;     // NHWC: each tensor's pixel stride (channels rounded up to 8)
  uint16_t* input16_ = nullptr;  // NHWC: the converted image, after the activations
  int64_t capacity_ = 0;
  std::unique_ptr<CudnnState> cudnn_;
  // Made last; the destructor releases it first (it waits for both streams, which may still be
  // running kernels that use the buffers above).
  std::unique_ptr<CudaPipeline> pipeline_;
};

}  // namespace dice

#endif  // DICE_HAVE_CUDA
