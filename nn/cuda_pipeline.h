// CudaPipeline: the execution machinery the GPU executor (nn/exec_cuda.h) needs around its
// forward: streams, pinned staging, CUDA graphs, the submit()/collect() protocol.
//
// What it owns: a compute and a copy stream; kSlots slots, each with pinned staging for the input,
// pinned memory for the features, the device input and features (one DeviceArena), and two events;
// the CUDA graphs of the forward, keyed by (batch, slot) because a graph bakes in its pointers.
// What the model provides: grow(batch), called with both streams idle and no graphs alive when a
// batch exceeds the planned capacity (the model re-plans its activations there), and
// forward(batch, in, features, stream), which enqueues the whole forward and nothing else.
//
// submit() copies the images into its slot's pinned staging memory, enqueues the upload on the copy
// stream, and, after an event wait, the forward (graph replay when possible) and the download of
// the features on the compute stream: the upload of batch n+1 overlaps the forward of batch n.
// If graph capture fails once, a warning is printed and plain launches are used from then on.
// Not thread-safe: one caller at a time, as for every Model.
#pragma once
#ifdef DICE_HAVE_CUDA
#include <cuda_runtime.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gpu/cuda_memory.h"
#include "nn/model.h"

namespace dice {

class CudaPipeline {
 public:
  static constexpr int kSlots = 2;
  struct Hooks {
    std::function<void(int64_t batch)> grow;
    std::function<void(int64_t batch, const float* in, float* features, cudaStream_t stream)> forward;
  };

  // owner names the model in error messages; image_floats and feature_dim are per image.
  CudaPipeline(std::string owner, int64_t image_floats, int64_t feature_dim, Hooks hooks);
  ~CudaPipeline();
  CudaPipeline(const CudaPipeline&) = delete;
  CudaPipeline& operator=(const CudaPipeline&) = delete;

  // The Model interface (see nn/model.h).
  void features(const float* x, int64_t batch, float* features);
  void submit(const float* x, int64_t batch);
  void collect(float* features);

  void set_use_graphs(bool on);
  bool graphs_active() const { return use_graphs_ && !graph_failed_; }
  // Plans for `batch` (as submit() would) and uploads x into slot 0's device input, synchronously.
  void prepare(const float* x, int64_t batch);
  // One forward of slot 0 at `batch` (<= the prepared batch) on stream(): graph replay when graphs
  // are active; no copies, no synchronisation.
  void enqueue_forward_slot0(int64_t batch);
  // The forward of slot 0 with plain launches (for per-op timing by the model's own hooks).
  void enqueue_plain_forward_slot0(int64_t batch);
  // Slot 0's device input and features (for per-op timing of the model's own forward).
  const float* slot0_input() const { return slots_[0].d_in; }
  float* slot0_features() const { return slots_[0].d_features; }
  cudaStream_t stream() const { return compute_stream_.get(); }
  int64_t capacity() const { return capacity_; }
  size_t io_bytes() const { return arena_.capacity(); }

 private:
  struct Slot {
    PinnedBuffer<float> staging, features;
    float* d_in = nullptr;
    float* d_features = nullptr;
    Event uploaded, done;
    int64_t batch = 0;
  };
  // Makes the model's device current on the calling thread (a caller may have switched it).
  void use_device() const;
  void plan(int64_t batch);
  void run_forward(int64_t batch, int slot, cudaGraphExec_t graph);
  cudaGraphExec_t graph_for(int64_t batch, int slot);
  void clear_graphs() noexcept;

  std::string owner_;
  int device_ = 0;  // the CUDA device current when the model was made
  int64_t image_floats_ = 0, feature_dim_ = 0;
  Hooks hooks_;
  Stream compute_stream_, copy_stream_;
  DeviceArena arena_;
  int64_t capacity_ = 0;
  Slot slots_[kSlots];
  std::deque<int> outstanding_;
  int next_slot_ = 0;
  static constexpr size_t kMaxGraphs = 16;
  bool use_graphs_ = true, graph_failed_ = false;
  std::map<std::pair<int64_t, int>, cudaGraphExec_t> graphs_;
};

// Records a pair of events around each op a model enqueues while profiling.
class OpTimer {
 public:
  void begin(const std::string& name, double flops, cudaStream_t stream);
  void end(cudaStream_t stream);
  std::vector<OpTime> results() const;  // waits for the events

 private:
  struct Op {
    std::string name;
    double flops;
    Event start, stop;
  };
  std::vector<Op> ops_;
};

}  // namespace dice

#endif  // DICE_HAVE_CUDA
