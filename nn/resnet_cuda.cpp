// ResNet forward on the GPU (see resnet_cuda.h for the plan, the backends and the execution).
// Host code only: the kernels live in kernels/*.cu (and cuDNN behind kernels/cudnn/), so this file
// is compiled by the C++ compiler with the project's warnings, and is empty without CUDA.
//
// The BatchNorm folding is nn/resnet.h's fold_conv_bn, shared with the CPU model; the CPU model is
// still built first so that a bad checkpoint fails with its messages.
// cuDNN code is compiled only with DICE_HAVE_CUDNN (dice_nn linked with dice_vendor).
#include "nn/resnet_cuda.h"

#ifdef DICE_HAVE_CUDA
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "core/error.h"
#include "kernels/conv2d_cuda.h"
#include "kernels/conv2d_tc.h"
#include "kernels/pool_cuda.h"
#include "nn/resnet.h"
#ifdef DICE_HAVE_CUDNN
#include "kernels/cudnn/conv2d_cudnn.h"
#endif

namespace dice {
namespace {

// A folded conv (nn/resnet.h's fold_conv_bn) with the name the timers and plans report.
struct HostConv : ResNet::ConvBn {
  std::string name;
};

HostConv fold(const StateDict& sd, const std::string& conv, const std::string& bn, int64_t stride,
              int64_t in_channels) {
  return HostConv{fold_conv_bn(sd, conv, bn, stride, in_channels), conv};
}

// Parameters packed into one host array, each slice starting on a 256-byte boundary.
template <typename T>
struct Packer {
  std::vector<T> data;
  size_t add(const T* p, size_t n) {
    const size_t off = data.size();
    data.insert(data.end(), p, p + n);
    const size_t per = DeviceArena::kAlignment / sizeof(T);
    data.resize((data.size() + per - 1) / per * per, T{});
    return off;
  }
};

int64_t out_side(int64_t side, int64_t kernel, int64_t stride, int64_t pad) {
  return (side + 2 * pad - kernel) / stride + 1;
}

}  // namespace

// The cuDNN backend's state: one context on the compute stream, and the planned layers per batch
// size (descriptors carry the batch), indexed by Conv::index.
struct ResNetCuda::CudnnState {
#ifdef DICE_HAVE_CUDNN
  explicit CudnnState(cudaStream_t stream) : ctx(stream) {}
  CudnnContext ctx;
  std::map<int64_t, std::vector<std::unique_ptr<CudnnConvLayer>>> layers;
#endif
};

ResNetCuda::ResNetCuda(const StateDict& sd, const ModelOptions& options) : options_(options) {
  check_model_options("resnet", Device::kCuda, options_);
  const bool tc = options_.backend == Backend::kOurs && is_tensor_core(options_.precision);
  if (tc) {
    const std::string why = tensor_cores_unsupported(0);
    if (!why.empty()) throw_error("--precision ", precision_name(options_.precision), ": ", why);
  }
  bool bottleneck = false;
  std::vector<int64_t> stage_blocks;
  {
    ResNet cpu(sd);  // validates keys and shapes with the CPU model's messages
    name_ = cpu.name() + ", cuda " + precision_name(options_.precision) +
            (options_.backend == Backend::kCudnn ? ", cudnn" : "");
    feature_dim_ = cpu.feature_dim();
    fc_weight_ = cpu.fc_weight();
    fc_bias_ = cpu.fc_bias();
    bottleneck = cpu.bottleneck();
    stage_blocks = cpu.blocks_per_stage();
  }

  // Fold every conv on the host, in the CPU model's order.
  HostConv stem = fold(sd, "conv1", "bn1", 2, 3);
  struct HostBlock {
    std::vector<HostConv> convs;
    bool has_downsample = false;
    HostConv downsample;
  };
  std::vector<HostBlock> hblocks;
  int64_t c = stem.out;
  for (int stage = 1; stage <= 4; ++stage) {
    for (int64_t n = 0; n < stage_blocks[static_cast<size_t>(stage - 1)]; ++n) {
      const std::string p = "layer" + std::to_string(stage) + "." + std::to_string(n);
      const int64_t stride = (stage > 1 && n == 0) ? 2 : 1;
      HostBlock blk;
      if (bottleneck) {
        blk.convs.push_back(fold(sd, p + ".conv1", p + ".bn1", 1, c));
        blk.convs.push_back(fold(sd, p + ".conv2", p + ".bn2", stride, blk.convs[0].out));
        blk.convs.push_back(fold(sd, p + ".conv3", p + ".bn3", 1, blk.convs[1].out));
      } else {
        blk.convs.push_back(fold(sd, p + ".conv1", p + ".bn1", stride, c));
        blk.convs.push_back(fold(sd, p + ".conv2", p + ".bn2", 1, blk.convs[0].out));
      }
      blk.has_downsample = sd.has(p + ".downsample.0.weight");
      if (blk.has_downsample) {
        blk.downsample = fold(sd, p + ".downsample.0", p + ".downsample.1", stride, c);
        blk.downsample.name = p + ".downsample";
        blk.downsample.pad = 0;
      }
      c = blk.convs.back().out;
      hblocks.push_back(std::move(blk));
    }
  }
  DICE_ASSERT(c == feature_dim_);

  // Pack: float weights and biases into params_, conv2d_tc operands into packed_.
  Packer<float> fp;
  Packer<uint8_t> tp;
  struct Offsets {
    size_t weight, bias, packed;
  };
  std::vector<Offsets> offsets;
  std::vector<const HostConv*> order;
  auto add = [&](const HostConv& h) {
    Offsets o{};
    o.weight = fp.add(h.weight.data(), h.weight.size());
    o.bias = fp.add(h.bias.data(), h.bias.size());
    if (tc) {
      Conv2dParams p;
      p.in_channels = h.in, p.out_channels = h.out, p.kernel = h.kernel;
      const std::vector<uint8_t> bytes = conv2d_tc_pack_weights(p, options_.precision, h.weight.data());
      o.packed = tp.add(bytes.data(), bytes.size());
    }
    offsets.push_back(o);
    order.push_back(&h);
  };
  add(stem);
  for (const HostBlock& b : hblocks) {
    for (const HostConv& h : b.convs) add(h);
    if (b.has_downsample) add(b.downsample);
  }
  params_ = DeviceBuffer<float>(fp.data);
  if (tc) packed_ = DeviceBuffer<uint8_t>(tp.data);

  // Device-side layer table, in the same order; then the shapes of the largest activation.
  int index = 0;
  auto make = [&](const HostConv& h) {
    const Offsets& o = offsets[static_cast<size_t>(index)];
    DICE_ASSERT(order[static_cast<size_t>(index)] == &h);
    Conv d;
    d.name = h.name, d.index = index++;
    d.in = h.in, d.out = h.out, d.kernel = h.kernel, d.stride = h.stride, d.pad = h.pad;
    d.weight = params_.data() + o.weight;
    d.bias = params_.data() + o.bias;
    if (tc) d.packed = packed_.data() + o.packed;
    return d;
  };
  stem_ = make(stem);
  stem_.name = "stem";
  int64_t side = out_side(kSide, stem_.kernel, stem_.stride, stem_.pad);
  max_activation_ = stem_.out * side * side;
  side = out_side(side, 3, 2, 1);  // max pool
  for (const HostBlock& hb : hblocks) {
    Block b;
    int64_t s = side;
    for (const HostConv& h : hb.convs) {
      b.convs.push_back(make(h));
      s = out_side(s, h.kernel, h.stride, h.pad);
      max_activation_ = std::max(max_activation_, h.out * s * s);
    }
    b.has_downsample = hb.has_downsample;
    if (hb.has_downsample) b.downsample = make(hb.downsample);
    blocks_.push_back(std::move(b));
    side = s;
  }
  conv_count_ = index;

  CudaPipeline::Hooks hooks;
  hooks.grow = [this](int64_t batch) { grow(batch); };
  hooks.forward = [this](int64_t batch, const float* in, float* features, cudaStream_t stream) {
    enqueue_forward(batch, in, features, stream, nullptr);
  };
  pipeline_ = std::make_unique<CudaPipeline>("ResNetCuda", 3 * kSide * kSide, feature_dim_, hooks);
  if (options_.backend == Backend::kCudnn) {
#ifdef DICE_HAVE_CUDNN
    cudnn_ = std::make_unique<CudnnState>(pipeline_->stream());
#endif
    pipeline_->set_use_graphs(false);  // see resnet_cuda.h
  }
}

ResNetCuda::~ResNetCuda() {
  // Work may still be in flight: wait before the cuDNN handle (bound to the compute stream) and
  // the workspace go, then let the pipeline wait for both of its streams and free the slots.
  // Errors are reported, not thrown (a destructor).
  if (pipeline_) {
    const cudaError_t err = cudaStreamSynchronize(pipeline_->stream());
    if (err != cudaSuccess)
      std::fprintf(stderr, "dice: ResNetCuda: cudaStreamSynchronize failed in the destructor: %s\n",
                   cudaGetErrorString(err));
  }
  cudnn_.reset();
  pipeline_.reset();
}

void ResNetCuda::grow(int64_t batch) {
  // Called by the pipeline with both streams idle: the old slices are no longer in use.
  arena_.reset();
  const size_t each = DeviceArena::aligned(static_cast<size_t>(batch * max_activation_) * sizeof(float));
  arena_.reserve(5 * each);
  for (float*& b : buf_) b = arena_.alloc<float>(batch * max_activation_);
#ifdef DICE_HAVE_CUDNN
  if (cudnn_) cudnn_->layers.clear();  // nothing in flight (the streams are idle)
#endif
}

Conv2dParams ResNetCuda::conv_params(const Conv& c, int64_t batch, int64_t h, int64_t w) const {
  Conv2dParams p;
  p.batch = batch, p.in_channels = c.in, p.height = h, p.width = w;
  p.out_channels = c.out, p.kernel = c.kernel, p.stride = c.stride, p.pad = c.pad;
  return p;
}

void ResNetCuda::run_conv(const Conv& c, int64_t batch, int64_t h, int64_t w, const float* in,
                          float* out, bool relu, const float* residual, cudaStream_t stream,
                          OpTimer* timer) {
  const Conv2dParams p = conv_params(c, batch, h, w);
  ConvFusion f;
  f.bias = c.bias;
  f.residual = residual;
  f.out_relu = relu;
  if (timer) timer->begin(c.name, p.flops(), stream);
  if (options_.backend == Backend::kCudnn) {
#ifdef DICE_HAVE_CUDNN
    auto& table = cudnn_->layers[batch];
    if (table.empty()) table.resize(static_cast<size_t>(conv_count_));
    auto& layer = table[static_cast<size_t>(c.index)];
    if (!layer) layer = std::make_unique<CudnnConvLayer>(cudnn_->ctx, p, options_.precision);
    layer->run_fused(in, c.weight, out, c.bias, residual, relu);
#else
    throw_error("ResNetCuda: built without cuDNN");  // excluded by check_model_options
#endif
  } else if (c.packed && conv2d_tc_unsupported(p, f, options_.precision).empty()) {
    conv2d_tc(p, options_.precision, in, c.packed, out, f, stream);
  } else {
    conv2d_cuda(p, in, c.weight, out, f, stream);
  }
  if (timer) timer->end(stream);
}

void ResNetCuda::enqueue_forward(int64_t batch, const float* in, float* features,
                                 cudaStream_t stream, OpTimer* timer) {
  DICE_ASSERT(batch >= 1 && batch <= pipeline_->capacity());
  // Stem conv (+ folded BN + ReLU), then the 3x3/2 max pool.
  run_conv(stem_, batch, kSide, kSide, in, buf_[0], true, nullptr, stream, timer);
  int64_t h = out_side(kSide, stem_.kernel, stem_.stride, stem_.pad), w = h;
  Pool2dParams mp;
  mp.batch = batch, mp.channels = stem_.out, mp.height = h, mp.width = w;
  mp.kernel = 3, mp.stride = 2, mp.pad = 1;
  if (timer) timer->begin("maxpool", 0, stream);
  max_pool2d_cuda(mp, buf_[0], buf_[1], stream);
  if (timer) timer->end(stream);
  h = mp.out_height(), w = mp.out_width();

  // Blocks, with the CPU model's buffer rotation: cur -> tmp[0], tmp[1] -> spare (+ identity).
  float* cur = buf_[1];
  float* spare = buf_[0];
  for (const Block& b : blocks_) {
    const float* identity = cur;
    const float* x = cur;
    int64_t ch = h, cw = w;
    float* tmp[2] = {buf_[2], buf_[3]};
    for (size_t i = 0; i + 1 < b.convs.size(); ++i) {
      const Conv& c = b.convs[i];
      run_conv(c, batch, ch, cw, x, tmp[i % 2], true, nullptr, stream, timer);
      ch = out_side(ch, c.kernel, c.stride, c.pad);
      cw = out_side(cw, c.kernel, c.stride, c.pad);
      x = tmp[i % 2];
    }
    if (b.has_downsample) {
      run_conv(b.downsample, batch, h, w, cur, buf_[4], false, nullptr, stream, timer);
      identity = buf_[4];
    }
    run_conv(b.convs.back(), batch, ch, cw, x, spare, true, identity, stream, timer);
    std::swap(cur, spare);
    h = ch, w = cw;
  }
  if (timer) timer->begin("head", 0, stream);
  global_avg_pool_cuda(batch, feature_dim_, h * w, cur, features, nullptr, nullptr, 0, stream);
  if (timer) timer->end(stream);
}

std::vector<std::string> ResNetCuda::tc_fallbacks(int64_t batch) const {
  std::vector<std::string> names;
  if (options_.backend != Backend::kOurs || !is_tensor_core(options_.precision)) return names;
  ConvFusion f;
  auto check = [&](const Conv& c, int64_t h, int64_t w, bool residual) {
    ConvFusion g = f;
    g.bias = c.bias;
    if (residual) g.residual = c.bias;  // any non-null pointer: only presence matters here
    if (!conv2d_tc_unsupported(conv_params(c, batch, h, w), g, options_.precision).empty())
      names.push_back(c.name);
  };
  check(stem_, kSide, kSide, false);
  int64_t side = out_side(out_side(kSide, stem_.kernel, stem_.stride, stem_.pad), 3, 2, 1);
  for (const Block& b : blocks_) {
    int64_t s = side;
    for (size_t i = 0; i < b.convs.size(); ++i) {
      check(b.convs[i], s, s, i + 1 == b.convs.size());
      s = out_side(s, b.convs[i].kernel, b.convs[i].stride, b.convs[i].pad);
    }
    if (b.has_downsample) check(b.downsample, side, side, false);
    side = s;
  }
  return names;
}


}  // namespace dice

#endif  // DICE_HAVE_CUDA
