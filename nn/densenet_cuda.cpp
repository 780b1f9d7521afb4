// DenseNet-BC forward on the project's CUDA kernels (see densenet_cuda.h for the plan and the
// memory layout; the two-slot pipeline and the CUDA graphs are nn/cuda_plan.h's CudaPipeline).
// Host code only: every kernel lives in kernels/*.cu, so this file is compiled by the C++ compiler
// with the project's warnings, and is empty without CUDA.
#include "nn/densenet_cuda.h"

#ifdef DICE_HAVE_CUDA
#include <algorithm>
#include <memory>

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

  CudaPipeline::Hooks hooks;
  hooks.grow = [this](int64_t batch) { grow(batch); };
  hooks.forward = [this](int64_t batch, const float* in, float* features, cudaStream_t stream) {
    enqueue_forward(batch, in, features, stream, nullptr);
  };
  pipeline_ = std::make_unique<CudaPipeline>("DenseNetCuda", kImage, feature_dim_, hooks);
}

// The pipeline waits for both of its streams (so no copy or kernel still uses the pinned buffers,
// the arena or the weights) and frees its slots and graphs before the other members go.
DenseNetCuda::~DenseNetCuda() { pipeline_.reset(); }

std::string DenseNetCuda::name() const { return name_; }

// ---- plan ----

void DenseNetCuda::grow(int64_t batch) {
  // Called by the pipeline with both streams idle and no graphs alive: the old slices are unused.
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
  };
  size_t bytes = 0;
  carve([&](int64_t count) -> float* {
    bytes += DeviceArena::aligned(static_cast<size_t>(count) * sizeof(float));
    return nullptr;
  });
  arena_.reset();
  arena_.reserve(bytes);
  carve([&](int64_t count) { return arena_.alloc<float>(count); });
  DICE_ASSERT(arena_.used() == bytes);
}

// ---- the forward ----

void DenseNetCuda::enqueue_forward(int64_t batch, const float* in, float* features,
                                   cudaStream_t stream, OpTimer* timer) {
  DICE_ASSERT(batch >= 1 && batch <= pipeline_->capacity());
  const int64_t k = config_.growth, inter = 4 * k;
  auto timed = [&](const char* kind, auto&& launch) {
    if (timer) timer->begin(kind, 0, stream);
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

}  // namespace dice

#endif  // DICE_HAVE_CUDA
