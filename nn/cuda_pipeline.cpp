// CudaPipeline (see cuda_pipeline.h): slots, streams, graphs and the submit()/collect() protocol of a
// GPU model, behind two hooks. Host code only; empty without CUDA.
#include "nn/cuda_pipeline.h"

#ifdef DICE_HAVE_CUDA
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>

#include "core/error.h"

namespace dice {

CudaPipeline::CudaPipeline(std::string owner, int64_t image_floats, int64_t feature_dim,
                           Hooks hooks)
    : owner_(std::move(owner)),
      image_floats_(image_floats),
      feature_dim_(feature_dim),
      hooks_(std::move(hooks)) {
  DICE_ASSERT(image_floats_ > 0 && feature_dim_ > 0 && hooks_.grow && hooks_.forward);
  DICE_CUDA_CHECK(cudaGetDevice(&device_));  // the streams and the model's weights live there
}

void CudaPipeline::use_device() const { DICE_CUDA_CHECK(cudaSetDevice(device_)); }

CudaPipeline::~CudaPipeline() {
  // In-flight copies may still touch the pinned buffers the members free: wait for them first.
  for (cudaStream_t s : {compute_stream_.get(), copy_stream_.get()}) {
    const cudaError_t err = cudaStreamSynchronize(s);
    if (err != cudaSuccess)
      std::fprintf(stderr, "dice: %s: cudaStreamSynchronize failed in the destructor: %s\n",
                   owner_.c_str(), cudaGetErrorString(err));
  }
  clear_graphs();
}

void CudaPipeline::plan(int64_t batch) {
  if (batch <= capacity_) return;
  if (!outstanding_.empty())
    throw_error(owner_, ": a batch of ", batch, " exceeds the planned ", capacity_,
                " while submissions are outstanding; collect() them first");
  compute_stream_.synchronize();
  copy_stream_.synchronize();
  clear_graphs();  // they point into buffers that are about to be replaced
  capacity_ = 0;   // stays 0 if anything below throws, so the next call plans again
  hooks_.grow(batch);

  size_t bytes = 0;
  for (int s = 0; s < kSlots; ++s)
    bytes += DeviceArena::aligned(static_cast<size_t>(batch * image_floats_) * sizeof(float)) +
             DeviceArena::aligned(static_cast<size_t>(batch * feature_dim_) * sizeof(float));
  arena_.reset();
  arena_.reserve(bytes);
  for (Slot& s : slots_) {
    s.d_in = arena_.alloc<float>(batch * image_floats_);
    s.d_features = arena_.alloc<float>(batch * feature_dim_);
    s.staging = PinnedBuffer<float>(batch * image_floats_);
    s.features = PinnedBuffer<float>(batch * feature_dim_);
  }
  DICE_ASSERT(arena_.used() == bytes);
  capacity_ = batch;
}

cudaGraphExec_t CudaPipeline::graph_for(int64_t batch, int slot) {
  if (!use_graphs_ || graph_failed_) return nullptr;
  const auto key = std::make_pair(batch, slot);
  auto it = graphs_.find(key);
  if (it != graphs_.end()) return it->second;
  if (graphs_.size() >= kMaxGraphs) clear_graphs();

  std::string why;
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  cudaError_t err = cudaStreamBeginCapture(compute_stream_, cudaStreamCaptureModeThreadLocal);
  if (err != cudaSuccess) {
    why = std::string("cudaStreamBeginCapture: ") + cudaGetErrorString(err);
  } else {
    try {
      hooks_.forward(batch, slots_[slot].d_in, slots_[slot].d_features, compute_stream_);
    } catch (const std::exception& e) {  // any exception: the capture below must still end
      why = e.what();
    }
    err = cudaStreamEndCapture(compute_stream_, &graph);  // always ends the capture
    if (why.empty() && err != cudaSuccess)
      why = std::string("cudaStreamEndCapture: ") + cudaGetErrorString(err);
    if (why.empty()) {
      err = cudaGraphInstantiate(&exec, graph, 0);
      if (err != cudaSuccess) {
        why = std::string("cudaGraphInstantiate: ") + cudaGetErrorString(err);
        exec = nullptr;
      }
    }
  }
  if (graph) {
    const cudaError_t derr = cudaGraphDestroy(graph);
    if (derr != cudaSuccess && why.empty())
      why = std::string("cudaGraphDestroy: ") + cudaGetErrorString(derr);
  }
  if (!why.empty()) {
    if (exec) cudaGraphExecDestroy(exec);
    cudaGetLastError();  // clear a capture error so the plain launches start clean
    graph_failed_ = true;
    std::fprintf(stderr, "dice: %s: CUDA graph capture failed (%s); launching kernels directly\n",
                 owner_.c_str(), why.c_str());
    return nullptr;
  }
  graphs_[key] = exec;
  return exec;
}

void CudaPipeline::clear_graphs() noexcept {
  if (graphs_.empty()) return;
  cudaError_t err = cudaStreamSynchronize(compute_stream_);
  for (auto& g : graphs_) {
    const cudaError_t e = cudaGraphExecDestroy(g.second);
    if (err == cudaSuccess) err = e;
  }
  graphs_.clear();
  if (err != cudaSuccess)
    std::fprintf(stderr, "dice: %s: releasing CUDA graphs: %s\n", owner_.c_str(),
                 cudaGetErrorString(err));
}

void CudaPipeline::set_use_graphs(bool on) {
  use_graphs_ = on;
  if (!on) clear_graphs();
}

void CudaPipeline::run_forward(int64_t batch, int slot, cudaGraphExec_t graph) {
  if (graph)
    DICE_CUDA_CHECK(cudaGraphLaunch(graph, compute_stream_));
  else
    hooks_.forward(batch, slots_[slot].d_in, slots_[slot].d_features, compute_stream_);
}

void CudaPipeline::submit(const float* x, int64_t batch) {
  use_device();
  if (batch < 1) throw_error(owner_, "::submit: batch must be >= 1, got ", batch);
  if (outstanding_.size() >= static_cast<size_t>(kSlots))
    throw_error(owner_, "::submit: ", kSlots, " submissions are outstanding; collect() first");
  plan(batch);
  const int s = next_slot_;
  DICE_ASSERT(std::find(outstanding_.begin(), outstanding_.end(), s) == outstanding_.end());
  Slot& slot = slots_[s];
  const cudaGraphExec_t graph = graph_for(batch, s);  // captures before any wait is enqueued

  std::memcpy(slot.staging.data(), x, static_cast<size_t>(batch * image_floats_) * sizeof(float));
  copy_to_device(slot.d_in, slot.staging.data(), batch * image_floats_, copy_stream_);
  slot.uploaded.record(copy_stream_);
  DICE_CUDA_CHECK(cudaStreamWaitEvent(compute_stream_, slot.uploaded.get(), 0));
  run_forward(batch, s, graph);
  copy_to_host(slot.features.data(), slot.d_features, batch * feature_dim_, compute_stream_);
  slot.done.record(compute_stream_);
  slot.batch = batch;
  outstanding_.push_back(s);
  next_slot_ = (s + 1) % kSlots;
}

void CudaPipeline::collect(float* features) {
  use_device();
  if (outstanding_.empty()) throw_error(owner_, "::collect: nothing was submitted");
  const int s = outstanding_.front();
  outstanding_.pop_front();  // popped first: after a failure the model does not wait on it again
  Slot& slot = slots_[s];
  slot.done.synchronize();  // a failed kernel of this forward surfaces here
  std::memcpy(features, slot.features.data(),
              static_cast<size_t>(slot.batch * feature_dim_) * sizeof(float));
}

void CudaPipeline::features(const float* x, int64_t batch, float* features) {
  if (!outstanding_.empty())
    throw_error(owner_, "::features: ", outstanding_.size(),
                " submissions are outstanding; collect() them first");
  if (batch == 0) return;
  submit(x, batch);
  collect(features);
}

void CudaPipeline::prepare(const float* x, int64_t batch) {
  use_device();
  if (!outstanding_.empty())
    throw_error(owner_, "::prepare: submissions are outstanding; collect() them first");
  if (batch < 1) throw_error(owner_, "::prepare: batch must be >= 1, got ", batch);
  plan(batch);
  Slot& slot = slots_[0];
  std::memcpy(slot.staging.data(), x, static_cast<size_t>(batch * image_floats_) * sizeof(float));
  copy_to_device(slot.d_in, slot.staging.data(), batch * image_floats_, compute_stream_);
  compute_stream_.synchronize();
}

void CudaPipeline::enqueue_forward_slot0(int64_t batch) {
  use_device();
  if (batch < 1 || batch > capacity_)
    throw_error(owner_, "::enqueue_forward_slot0: batch ", batch, " outside 1..", capacity_,
                "; prepare() a batch at least as large first");
  run_forward(batch, 0, graph_for(batch, 0));
}

void CudaPipeline::enqueue_plain_forward_slot0(int64_t batch) {
  use_device();
  if (batch < 1 || batch > capacity_)
    throw_error(owner_, "::enqueue_plain_forward_slot0: batch ", batch, " outside 1..", capacity_,
                "; prepare() a batch at least as large first");
  run_forward(batch, 0, nullptr);
}

void OpTimer::begin(const std::string& name, double flops, cudaStream_t stream) {
  ops_.push_back(Op{name, flops, Event(), Event()});
  ops_.back().start.record(stream);
}
void OpTimer::end(cudaStream_t stream) { ops_.back().stop.record(stream); }
std::vector<OpTime> OpTimer::results() const {
  std::vector<OpTime> r;
  for (const Op& op : ops_) r.push_back(OpTime{op.name, Event::elapsed_ms(op.start, op.stop), op.flops});
  return r;
}

}  // namespace dice

#endif  // DICE_HAVE_CUDA
