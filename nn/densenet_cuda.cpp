// DenseNet-BC forward on the project's CUDA kernels (see densenet_cuda.h for the plan, the memory
// layout and the two-slot pipeline). Host code only: every kernel lives in kernels/*.cu, so this
// file is compiled by the C++ compiler with the project's warnings, and is empty without CUDA.
//
// Why the graphs are keyed by slot as well as by batch size: a captured graph bakes in its
// pointers, and each slot has its own device input (so that the next batch can be uploaded while
// the current one is read). Two small graphs per batch size are cheaper than patching nodes.
#include "nn/densenet_cuda.h"

#ifdef DICE_HAVE_CUDA
#include <algorithm>
#include <cstdio>
#include <cstring>

#include "core/error.h"
#include "kernels/conv2d_cuda.h"
#include "kernels/pool_cuda.h"

namespace dice {
namespace {

constexpr int64_t kSide = 32;                  // CIFAR input side; blocks run at 32, 16, 8
constexpr int64_t kSides[3] = {32, 16, 8};
constexpr int64_t kImage = 3 * kSide * kSide;  // floats per input image

// All parameters in one host vector, each starting on a DeviceArena::kAlignment boundary, so one
// upload makes every weight and folded BN resident. add() returns the offset in floats.
struct HostParams {
  std::vector<float> data;
  size_t add(const float* p, int64_t n) {
    const size_t off = data.size();
    data.insert(data.end(), p, p + n);
    const size_t per = DeviceArena::kAlignment / sizeof(float);
    data.resize((data.size() + per - 1) / per * per, 0.0f);
    return off;
  }
  size_t add(const Tensor& t) { return add(t.ptr(), t.numel()); }
  size_t add(const std::vector<float>& v) { return add(v.data(), static_cast<int64_t>(v.size())); }
};

}  // namespace

// A pair of events around each op of a non-graph forward (profile_ops only).
class DenseNetCuda::OpTimer {
 public:
  void begin(const char* kind, cudaStream_t stream) {
    ops_.push_back(Op{kind, Event(), Event()});
    ops_.back().start.record(stream);
  }
  void end(cudaStream_t stream) { ops_.back().stop.record(stream); }
  std::vector<OpTime> results() const {
    std::vector<OpTime> r;
    for (const Op& op : ops_) r.push_back(OpTime{op.kind, Event::elapsed_ms(op.start, op.stop)});
    return r;
  }

 private:
  struct Op {
    std::string kind;
    Event start, stop;
  };
  std::vector<Op> ops_;
};

DenseNetCuda::DenseNetCuda(const StateDict& sd) {
  {
    // The CPU model validates keys and shapes with the messages users already know; its copy of
    // the weights is dropped at the end of this scope.
    DenseNet cpu(sd);
    name_ = cpu.name() + ", cuda";
    config_ = cpu.config();
    feature_dim_ = cpu.feature_dim();
    fc_weight_ = cpu.fc_weight();
    fc_bias_ = cpu.fc_bias();
  }
  const int64_t n = config_.layers_per_block, k = config_.growth, inter = 4 * k;

  // Pass 1: pack every parameter (BN folded once, in double, by bn_fold) and remember offsets.
  struct LayerOffsets {
    size_t bn1_scale, bn1_shift, conv1, bn2_scale, bn2_shift, conv2;
  };
  struct TransOffsets {
    size_t bn_scale, bn_shift, conv;
  };
  HostParams hp;
  const size_t stem_off = hp.add(sd.at("conv1.weight", {config_.stem_channels, 3, 3, 3}));
  std::vector<LayerOffsets> layer_off[3];
  TransOffsets trans_off[2] = {};
  int64_t c = config_.stem_channels;
  for (int b = 0; b < 3; ++b) {
    for (int64_t i = 0; i < n; ++i) {
      const std::string key = densenet_layer_key(b, i);
      const BnAffine bn1 = densenet_load_bn(sd, key + ".bn1", c);
      const BnAffine bn2 = densenet_load_bn(sd, key + ".bn2", inter);
      LayerOffsets o;
      o.bn1_scale = hp.add(bn1.scale);
      o.bn1_shift = hp.add(bn1.shift);
      o.conv1 = hp.add(sd.at(key + ".conv1.weight", {inter, c, 1, 1}));
      o.bn2_scale = hp.add(bn2.scale);
      o.bn2_shift = hp.add(bn2.shift);
      o.conv2 = hp.add(sd.at(key + ".conv2.weight", {k, inter, 3, 3}));
      layer_off[b].push_back(o);
      Bottleneck layer = {};
      layer.in_channels = c;
      blocks_[b].push_back(layer);
      c += k;
    }
    block_width_[b] = c;
    if (b < 2) {
      const std::string key = "trans" + std::to_string(b + 1);
      Transition& t = trans_[b];
      t.in_channels = c;
      t.out_channels = c / 2;  // reduction 0.5: floor(c * 0.5), as DenseNet
      const BnAffine bn = densenet_load_bn(sd, key + ".bn1", c);
      trans_off[b].bn_scale = hp.add(bn.scale);
      trans_off[b].bn_shift = hp.add(bn.shift);
      trans_off[b].conv = hp.add(sd.at(key + ".conv1.weight", {t.out_channels, c, 1, 1}));
      c = t.out_channels;
    }
  }
  const BnAffine head = densenet_load_bn(sd, "bn1", c);
  const size_t head_scale_off = hp.add(head.scale), head_shift_off = hp.add(head.shift);
  // The head pools block 3's whole buffer: its width is the feature dimension.
  DICE_ASSERT(c == feature_dim_ && block_width_[2] == feature_dim_);

  // Pass 2: one upload, then offsets become device pointers.
  params_ = DeviceBuffer<float>(hp.data);
  const float* base = params_.data();
  stem_ = base + stem_off;
  for (int b = 0; b < 3; ++b) {
    for (size_t i = 0; i < blocks_[b].size(); ++i) {
      const LayerOffsets& o = layer_off[b][i];
      Bottleneck& layer = blocks_[b][i];
      layer.bn1_scale = base + o.bn1_scale;
      layer.bn1_shift = base + o.bn1_shift;
      layer.conv1 = base + o.conv1;
      layer.bn2_scale = base + o.bn2_scale;
      layer.bn2_shift = base + o.bn2_shift;
      layer.conv2 = base + o.conv2;
    }
  }
  for (int b = 0; b < 2; ++b) {
    trans_[b].bn_scale = base + trans_off[b].bn_scale;
    trans_[b].bn_shift = base + trans_off[b].bn_shift;
    trans_[b].conv = base + trans_off[b].conv;
  }
  head_scale_ = base + head_scale_off;
  head_shift_ = base + head_shift_off;
}

DenseNetCuda::~DenseNetCuda() {
  // In-flight copies may still touch the pinned buffers the members free: wait for them first.
  // Errors are reported, not thrown (a destructor), and then the members are released anyway.
  for (cudaStream_t s : {compute_stream_.get(), copy_stream_.get()}) {
    const cudaError_t err = cudaStreamSynchronize(s);
    if (err != cudaSuccess)
      std::fprintf(stderr, "dice: DenseNetCuda: cudaStreamSynchronize failed in the destructor: %s\n",
                   cudaGetErrorString(err));
  }
  clear_graphs();
}

std::string DenseNetCuda::name() const { return name_; }

// ---- plan ----

void DenseNetCuda::plan(int64_t batch) {
  if (batch <= capacity_) return;
  if (!outstanding_.empty())
    throw_error("DenseNetCuda: a batch of ", batch, " exceeds the planned ", capacity_,
                " while submissions are outstanding; collect() them first");
  compute_stream_.synchronize();
  copy_stream_.synchronize();
  clear_graphs();  // they point into the arena that is about to be replaced

  const int64_t inter = 4 * config_.growth;
  int64_t block_elems[3];
  for (int b = 0; b < 3; ++b) block_elems[b] = block_width_[b] * kSides[b] * kSides[b];
  const int64_t tmp_elems = inter * kSides[0] * kSides[0];
  const int64_t pool_elems = std::max(trans_[0].in_channels * kSides[1] * kSides[1],
                                      trans_[1].in_channels * kSides[2] * kSides[2]);
  // Run twice: a dry run that sums the aligned sizes, then the real carving, in the same order,
  // so the arena is exactly as large as the plan.
  auto carve = [&](auto&& take) {
    for (int b = 0; b < 3; ++b) d_block_[b] = take(batch * block_elems[b]);
    d_tmp_ = take(batch * tmp_elems);
    d_pool_ = take(batch * pool_elems);
    for (Slot& s : slots_) {
      s.d_in = take(batch * kImage);
      s.d_features = take(batch * feature_dim_);
    }
  };
  size_t bytes = 0;
  carve([&](int64_t count) -> float* {
    bytes += DeviceArena::aligned(static_cast<size_t>(count) * sizeof(float));
    return nullptr;
  });
  capacity_ = 0;  // stays 0 if an allocation below throws, so the next call plans again
  arena_.reset();
  arena_.reserve(bytes);
  carve([&](int64_t count) { return arena_.alloc<float>(count); });
  DICE_ASSERT(arena_.used() == bytes);
  for (Slot& s : slots_) {
    s.staging = PinnedBuffer<float>(batch * kImage);
    s.features = PinnedBuffer<float>(batch * feature_dim_);
  }
  capacity_ = batch;
}

// ---- the forward ----

void DenseNetCuda::enqueue_forward(int64_t batch, const float* in, float* features,
                                   cudaStream_t stream, OpTimer* timer) const {
  DICE_ASSERT(batch >= 1 && batch <= capacity_);
  const int64_t k = config_.growth, inter = 4 * k;
  auto timed = [&](const char* kind, auto&& launch) {
    if (timer) timer->begin(kind, stream);
    launch();
    if (timer) timer->end(stream);
  };

  // Stem: 3x3 conv into the first channels of block 1's buffer.
  timed("stem", [&] {
    Conv2dParams p;
    p.batch = batch, p.in_channels = 3, p.height = kSide, p.width = kSide;
    p.out_channels = config_.stem_channels, p.kernel = 3, p.pad = 1;
    p.out_batch_stride = block_width_[0] * kSide * kSide;
    conv2d_cuda(p, in, stem_, d_block_[0], ConvFusion{}, stream);
  });
  for (int b = 0; b < 3; ++b) {
    const int64_t side = kSides[b], hw = side * side, width = block_width_[b];
    float* block = d_block_[b];
    for (const Bottleneck& layer : blocks_[b]) {
      // 1x1: reads the first in_channels of the block, relu(bn1) on load, relu(bn2) on store.
      timed("bottleneck_1x1", [&] {
        Conv2dParams p1;
        p1.batch = batch, p1.in_channels = layer.in_channels, p1.height = side, p1.width = side;
        p1.out_channels = inter, p1.kernel = 1;
        p1.in_batch_stride = width * hw;
        ConvFusion f1;
        f1.in_scale = layer.bn1_scale, f1.in_shift = layer.bn1_shift;
        f1.out_scale = layer.bn2_scale, f1.out_shift = layer.bn2_shift;
        f1.out_relu = true;
        conv2d_cuda(p1, block, layer.conv1, d_tmp_, f1, stream);
      });
      // 3x3: the activated intermediate -> this layer's `growth` channels of the block.
      timed("bottleneck_3x3", [&] {
        Conv2dParams p2;
        p2.batch = batch, p2.in_channels = inter, p2.height = side, p2.width = side;
        p2.out_channels = k, p2.kernel = 3, p2.pad = 1;
        p2.out_batch_stride = width * hw;
        conv2d_cuda(p2, d_tmp_, layer.conv2, block + layer.in_channels * hw, ConvFusion{}, stream);
      });
    }
    if (b < 2) {
      const Transition& t = trans_[b];
      const int64_t half = side / 2;
      // avgpool2x2(relu(bn(x))) first, then the 1x1 conv (linear, no bias: the order commutes
      // and pooling first does a quarter of the arithmetic), as the CPU plan does.
      timed("transition_pool", [&] {
        Pool2dParams pp;
        pp.batch = batch, pp.channels = t.in_channels, pp.height = side, pp.width = side;
        pp.kernel = 2, pp.stride = 2;
        pp.in_batch_stride = width * hw;
        avg_pool2d_cuda(pp, block, d_pool_, t.bn_scale, t.bn_shift, stream);
      });
      timed("transition_conv", [&] {
        Conv2dParams pc;
        pc.batch = batch, pc.in_channels = t.in_channels, pc.height = half, pc.width = half;
        pc.out_channels = t.out_channels, pc.kernel = 1;
        pc.out_batch_stride = block_width_[b + 1] * half * half;
        conv2d_cuda(pc, d_pool_, t.conv, d_block_[b + 1], ConvFusion{}, stream);
      });
    }
  }
  // Head: relu(bn(x)) fused into the global average pool -> [batch][feature_dim].
  timed("head", [&] {
    const int64_t hw = kSides[2] * kSides[2];
    global_avg_pool_cuda(batch, feature_dim_, hw, d_block_[2], features, head_scale_, head_shift_,
                         block_width_[2] * hw, stream);
  });
}

// ---- graphs ----

cudaGraphExec_t DenseNetCuda::graph_for(int64_t batch, int slot) {
  if (!use_graphs_ || graph_failed_) return nullptr;
  const auto key = std::make_pair(batch, slot);
  auto it = graphs_.find(key);
  if (it != graphs_.end()) return it->second;
  if (graphs_.size() >= kMaxGraphs) clear_graphs();

  // Capture in thread-local mode: other threads' CUDA calls (none today) cannot break it.
  std::string why;
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  cudaError_t err = cudaStreamBeginCapture(compute_stream_, cudaStreamCaptureModeThreadLocal);
  if (err != cudaSuccess) {
    why = std::string("cudaStreamBeginCapture: ") + cudaGetErrorString(err);
  } else {
    try {
      enqueue_forward(batch, slots_[slot].d_in, slots_[slot].d_features, compute_stream_, nullptr);
    } catch (const Error& e) {
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
    const cudaError_t derr = cudaGraphDestroy(graph);  // the executable keeps what it needs
    if (derr != cudaSuccess && why.empty())
      why = std::string("cudaGraphDestroy: ") + cudaGetErrorString(derr);
  }
  if (!why.empty()) {
    if (exec) cudaGraphExecDestroy(exec);
    cudaGetLastError();  // clear a capture error so the plain launches start clean
    graph_failed_ = true;
    std::fprintf(stderr, "dice: CUDA graph capture failed (%s); launching kernels directly\n",
                 why.c_str());
    return nullptr;
  }
  graphs_[key] = exec;
  return exec;
}

void DenseNetCuda::clear_graphs() noexcept {
  if (graphs_.empty()) return;
  // Nothing may still be replaying a graph that is destroyed.
  cudaError_t err = cudaStreamSynchronize(compute_stream_);
  for (auto& g : graphs_) {
    const cudaError_t e = cudaGraphExecDestroy(g.second);
    if (err == cudaSuccess) err = e;
  }
  graphs_.clear();
  if (err != cudaSuccess)
    std::fprintf(stderr, "dice: DenseNetCuda: releasing CUDA graphs: %s\n", cudaGetErrorString(err));
}

void DenseNetCuda::set_use_graphs(bool on) {
  use_graphs_ = on;
  if (!on) clear_graphs();
}

void DenseNetCuda::run_forward(int64_t batch, int slot, cudaGraphExec_t graph) {
  if (graph)
    DICE_CUDA_CHECK(cudaGraphLaunch(graph, compute_stream_));
  else
    enqueue_forward(batch, slots_[slot].d_in, slots_[slot].d_features, compute_stream_, nullptr);
}

// ---- the pipeline ----

void DenseNetCuda::submit(const float* x, int64_t batch) {
  if (batch < 1) throw_error("DenseNetCuda::submit: batch must be >= 1, got ", batch);
  if (outstanding_.size() >= static_cast<size_t>(kSlots))
    throw_error("DenseNetCuda::submit: ", kSlots, " submissions are outstanding; collect() first");
  plan(batch);
  const int s = next_slot_;
  // Submissions are collected in order and slots are used round-robin, so with fewer than kSlots
  // outstanding the next slot is free: its previous forward and copies have completed.
  DICE_ASSERT(std::find(outstanding_.begin(), outstanding_.end(), s) == outstanding_.end());
  Slot& slot = slots_[s];
  const cudaGraphExec_t graph = graph_for(batch, s);  // captures before any wait is enqueued

  std::memcpy(slot.staging.data(), x, static_cast<size_t>(batch * kImage) * sizeof(float));
  copy_to_device(slot.d_in, slot.staging.data(), batch * kImage, copy_stream_);
  slot.uploaded.record(copy_stream_);
  DICE_CUDA_CHECK(cudaStreamWaitEvent(compute_stream_, slot.uploaded.get(), 0));
  run_forward(batch, s, graph);
  copy_to_host(slot.features.data(), slot.d_features, batch * feature_dim_, compute_stream_);
  slot.done.record(compute_stream_);
  slot.batch = batch;
  outstanding_.push_back(s);
  next_slot_ = (s + 1) % kSlots;
}

void DenseNetCuda::collect(float* features) {
  if (outstanding_.empty()) throw_error("DenseNetCuda::collect: nothing was submitted");
  const int s = outstanding_.front();
  outstanding_.pop_front();  // popped first: after a failure the model does not wait on it again
  Slot& slot = slots_[s];
  slot.done.synchronize();  // a failed kernel of this forward surfaces here
  std::memcpy(features, slot.features.data(),
              static_cast<size_t>(slot.batch * feature_dim_) * sizeof(float));
}

void DenseNetCuda::features(const float* x, int64_t batch, float* features) {
  if (!outstanding_.empty())
    throw_error("DenseNetCuda::features: ", outstanding_.size(),
                " submissions are outstanding; collect() them first");
  if (batch == 0) return;
  submit(x, batch);
  collect(features);
}

// ---- tests and benchmarks ----

void DenseNetCuda::prepare(const float* x, int64_t batch) {
  if (!outstanding_.empty())
    throw_error("DenseNetCuda::prepare: submissions are outstanding; collect() them first");
  if (batch < 1) throw_error("DenseNetCuda::prepare: batch must be >= 1, got ", batch);
  plan(batch);
  Slot& slot = slots_[0];
  std::memcpy(slot.staging.data(), x, static_cast<size_t>(batch * kImage) * sizeof(float));
  copy_to_device(slot.d_in, slot.staging.data(), batch * kImage, compute_stream_);
  compute_stream_.synchronize();
}

void DenseNetCuda::enqueue_forward_slot0(int64_t batch) {
  if (batch < 1 || batch > capacity_)
    throw_error("DenseNetCuda::enqueue_forward_slot0: batch ", batch, " outside 1..", capacity_,
                "; prepare() a batch at least as large first");
  run_forward(batch, 0, graph_for(batch, 0));
}

std::vector<DenseNetCuda::OpTime> DenseNetCuda::profile_ops(int64_t batch) {
  if (batch < 1 || batch > capacity_)
    throw_error("DenseNetCuda::profile_ops: batch ", batch, " outside 1..", capacity_,
                "; prepare() a batch at least as large first");
  OpTimer timer;
  enqueue_forward(batch, slots_[0].d_in, slots_[0].d_features, compute_stream_, &timer);
  compute_stream_.synchronize();
  return timer.results();
}

}  // namespace dice

#endif  // DICE_HAVE_CUDA
