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
// Execution: two slots, each with a pinned staging buffer, a device input, a device feature
// buffer and a pinned feature buffer. submit() copies the images into its slot's pinned staging
// memory and enqueues the H2D copy on a copy stream, then the forward and the D2H copy of the
// features on the compute stream (after an event wait), so the upload of batch n+1 overlaps the
// forward of batch n. The forward is captured into a CUDA graph once per (batch size, slot) and
// replayed; if capture fails the model warns once and launches the kernels directly.
// Not thread-safe: one caller at a time, as for every Model.
#pragma once
#ifdef DICE_HAVE_CUDA
#include <cuda_runtime.h>

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "kernels/cuda_memory.h"
#include "nn/densenet.h"

namespace dice {

class DenseNetCuda : public Model {
 public:
  static constexpr int kSlots = 2;

  // Validates the state dict as DenseNet does (same errors), then uploads the weights.
  explicit DenseNetCuda(const StateDict& sd);
  ~DenseNetCuda() override;
  DenseNetCuda(const DenseNetCuda&) = delete;
  DenseNetCuda& operator=(const DenseNetCuda&) = delete;

  std::string name() const override;
  int64_t feature_dim() const override { return feature_dim_; }
  int64_t num_classes() const override { return config_.num_classes; }
  int64_t input_size() const override { return 32; }
  // Synchronous: submit() then collect(). Throws if submissions are outstanding.
  void features(const float* x, int64_t batch, float* features) override;

  int pipeline_depth() const override { return kSlots; }
  void submit(const float* x, int64_t batch) override;
  void collect(float* features) override;

  const DenseNetConfig& config() const { return config_; }

  // ---- for tests and benchmarks ----
  // Graphs on (default) or off; turning them off frees the captured graphs.
  void set_use_graphs(bool on);
  bool graphs_active() const { return use_graphs_ && !graph_failed_; }
  // Makes the plan for `batch` (as submit() would) and uploads x into slot 0's device input.
  void prepare(const float* x, int64_t batch);
  // Enqueues one forward of slot 0 at `batch` (<= the prepared batch) on stream(), through the
  // graph when graphs are active; no copies, no synchronisation (time it with events on stream()).
  void enqueue_forward_slot0(int64_t batch);
  cudaStream_t stream() const { return compute_stream_.get(); }
  // Device memory of the activation arena, in bytes (for the benchmark's report).
  size_t arena_bytes() const { return arena_.capacity(); }

  struct OpTime {
    std::string kind;  // "stem", "bottleneck_1x1", "bottleneck_3x3", "transition_pool",
                       // "transition_conv", "head"
    double ms = 0;
  };
  // One forward of slot 0 at `batch` (after prepare()) with plain launches and a pair of events
  // around each op; returns every op's time in launch order.
  std::vector<OpTime> profile_ops(int64_t batch);

 private:
  struct Bottleneck {
    int64_t in_channels;
    const float *bn1_scale, *bn1_shift, *conv1, *bn2_scale, *bn2_shift, *conv2;  // device
  };
  struct Transition {
    int64_t in_channels, out_channels;
    const float *bn_scale, *bn_shift, *conv;  // device
  };
  struct Slot {
    PinnedBuffer<float> staging;   // [capacity][3][32][32]
    PinnedBuffer<float> features;  // [capacity][feature_dim]
    float* d_in = nullptr;         // arena
    float* d_features = nullptr;   // arena
    Event uploaded, done;          // after the H2D copy; after the D2H copy of the features
    int64_t batch = 0;             // of the outstanding submission
  };
  class OpTimer;

  // Grows the arena and the pinned buffers when batch exceeds the planned capacity.
  void plan(int64_t batch);
  // The whole forward of `batch` images from `in` to `features`, enqueued on `stream`.
  void enqueue_forward(int64_t batch, const float* in, float* features, cudaStream_t stream,
                       OpTimer* timer) const;
  // Enqueues the forward of `slot` on the compute stream: graph replay, or plain launches.
  void run_forward(int64_t batch, int slot, cudaGraphExec_t graph);
  // The graph of (batch, slot), captured on first use; null when graphs are off or capture failed.
  cudaGraphExec_t graph_for(int64_t batch, int slot);
  void clear_graphs() noexcept;

  std::string name_;
  DenseNetConfig config_;
  int64_t feature_dim_ = 0;
  int64_t block_width_[3] = {0, 0, 0};
  std::vector<Bottleneck> blocks_[3];
  Transition trans_[2] = {};
  const float* stem_ = nullptr;
  const float *head_scale_ = nullptr, *head_shift_ = nullptr;
  DeviceBuffer<float> params_;  // every weight and folded BN, 256-byte aligned slices

  Stream compute_stream_, copy_stream_;
  DeviceArena arena_;
  int64_t capacity_ = 0;  // images the arena and pinned buffers are sized for
  float* d_block_[3] = {nullptr, nullptr, nullptr};
  float* d_tmp_ = nullptr;   // the bottleneck's 4k-channel intermediate
  float* d_pool_ = nullptr;  // the transition's pooled relu(bn(x))
  Slot slots_[kSlots];
  std::deque<int> outstanding_;  // slots submitted and not yet collected, oldest first
  int next_slot_ = 0;

  static constexpr size_t kMaxGraphs = 16;  // a caller cycling through batch sizes stays bounded
  bool use_graphs_ = true, graph_failed_ = false;
  std::map<std::pair<int64_t, int>, cudaGraphExec_t> graphs_;  // (batch, slot) -> executable
};

}  // namespace dice

#endif  // DICE_HAVE_CUDA
