// The CUDA executor (see exec_cuda.h): uploads a plan's parameters once, carves the activation
// arena per planned batch, and enqueues the steps. Host code only: the kernels live in
// kernels/*.cu (and cuDNN behind kernels/cudnn/), so this file is compiled by the C++ compiler
// with the project's warnings, and is empty without CUDA. cuDNN code is compiled only with
// DICE_HAVE_CUDNN (dice_nn linked with dice_vendor).
#include "nn/exec_cuda.h"

#ifdef DICE_HAVE_CUDA
#include <cstdio>
#include <map>

#include "core/error.h"
#include "kernels/conv2d_cuda.h"
#include "kernels/conv2d_nhwc.h"
#include "kernels/conv2d_tc.h"
#include "kernels/nhwc.h"
#include "kernels/pool_cuda.h"
#ifdef DICE_HAVE_CUDNN
#include "kernels/cudnn/conv2d_cudnn.h"
#endif

namespace dice {
namespace {

// Parameters packed into one host array, each slice starting on a 256-byte boundary; add()
// returns the offset in elements (none for an empty vector: kNone).
template <typename T>
struct Packer {
  static constexpr size_t kNone = ~size_t{0};
  std::vector<T> data;
  size_t add(const T* p, size_t n) {
    if (n == 0) return kNone;
    const size_t off = data.size();
    data.insert(data.end(), p, p + n);
    const size_t per = DeviceArena::kAlignment / sizeof(T);
    data.resize((data.size() + per - 1) / per * per, T{});
    return off;
  }
  size_t add(const std::vector<T>& v) { return add(v.data(), v.size()); }
  static const T* at(const T* base, size_t off) { return off == kNone ? nullptr : base + off; }
};

int64_t round_up8(int64_t v) { return (v + 7) / 8 * 8; }

// conv2d_nhwc's description of conv step `s` at `batch`. Tensors are stored with their channels
// rounded up to a multiple of 8 (nhwc_pitches); a conv that reads or writes a whole tensor takes
// those padding channels along: it reads them (zero, as written; the packed weights are zero
// there too) and writes them (zero weight rows, zero bias/scale/shift: zeros again).
NhwcConv nhwc_conv(const Plan& plan, const Step& s, int64_t batch, const std::vector<int64_t>& ldc) {
  NhwcConv c;
  c.p = plan.conv_params(s, batch);
  c.p.in_batch_stride = c.p.out_batch_stride = 0;
  auto whole = [&](const View& v) {
    return v.channel == 0 && v.channels == plan.tensors[static_cast<size_t>(v.tensor)].channels;
  };
  if (whole(s.in)) c.p.in_channels = ldc[static_cast<size_t>(s.in.tensor)];
  if (whole(s.out)) c.p.out_channels = ldc[static_cast<size_t>(s.out.tensor)];
  c.in_ldc = ldc[static_cast<size_t>(s.in.tensor)];
  c.out_ldc = ldc[static_cast<size_t>(s.out.tensor)];
  c.residual_ldc = s.residual.valid() ? ldc[static_cast<size_t>(s.residual.tensor)] : 0;
  return c;
}

std::vector<int64_t> nhwc_pitches(const Plan& plan) {
  std::vector<int64_t> ldc;
  for (const PlanTensor& t : plan.tensors) ldc.push_back(round_up8(t.channels));
  return ldc;
}

}  // namespace

std::string CudaModel::nhwc_unsupported(const Plan& plan) {
  const std::vector<int64_t> ldc = nhwc_pitches(plan);
  for (size_t t = 0; t < plan.tensors.size(); ++t)  // 16-bit NHWC must fit the float32 slot
    if (static_cast<int>(t) != Plan::kInput && static_cast<int>(t) != plan.features &&
        ldc[t] > 2 * plan.tensors[t].channels)
      return "tensor " + plan.tensors[t].name + " has " + std::to_string(plan.tensors[t].channels) +
             " channels (fewer than 4)";
  for (const Step& s : plan.steps) {
    const std::string where = "step " + s.name + ": ";
    if (!s.in_scale.empty()) return where + "a pre-activation (relu(x*s+t)) on its input";
    for (const View* v : {&s.in, &s.out, &s.residual})
      if (v->valid() && v->tensor != plan.features &&
          v->channels != plan.tensors[static_cast<size_t>(v->tensor)].channels &&
          (v->channel % 8 != 0 || v->channels % 8 != 0))
        return where + "a channel slice off a multiple of 8";
    switch (s.op) {
      case StepOp::kConv: {
        NhwcFusion f;
        f.relu = s.relu;
        const std::string why = conv2d_nhwc_unsupported(nhwc_conv(plan, s, 1, ldc), f, Precision::kFp16);
        if (!why.empty()) return where + why;
        break;
      }
      case StepOp::kMaxPool:
        if (s.in.channels != plan.tensors[static_cast<size_t>(s.in.tensor)].channels ||
            s.out.channels != plan.tensors[static_cast<size_t>(s.out.tensor)].channels ||
            ldc[static_cast<size_t>(s.in.tensor)] != ldc[static_cast<size_t>(s.out.tensor)])
          return where + "a max pool of a channel slice";
        break;
      case StepOp::kAvgPool: return where + "an average pool (no NHWC kernel yet)";
      case StepOp::kGlobalAvgPool:
        if (s.out.tensor != plan.features) return where + "a global pool that is not the features";
        break;
    }
  }
  return {};
}

// The cuDNN backend's state: one context on the compute stream, and the planned layers per batch
// size (descriptors carry the batch), indexed by step.
struct CudaModel::CudnnState {
#ifdef DICE_HAVE_CUDNN
  explicit CudnnState(cudaStream_t stream) : ctx(stream) {}
  CudnnContext ctx;
  std::map<int64_t, std::vector<std::unique_ptr<CudnnConvLayer>>> layers;
#endif
};

CudaModel::CudaModel(Plan plan, const ModelOptions& options)
    : plan_(std::move(plan)), options_(options) {
  check_model_options(plan_.family, Device::kCuda, options_);
  const bool tc = options_.backend == Backend::kOurs && is_tensor_core(options_.precision);
  if (tc) {
    const std::string why = tensor_cores_unsupported(0);
    if (!why.empty()) throw_error("--precision ", precision_name(options_.precision), ": ", why);
  }
  const bool half16 = options_.backend == Backend::kOurs &&
                      (options_.precision == Precision::kFp16 || options_.precision == Precision::kBf16);
  if (half16 && options_.layout != GpuLayout::kNchw) {
    const std::string why = nhwc_unsupported(plan_);
    if (why.empty())
      nhwc_ = true;
    else if (options_.layout == GpuLayout::kNhwc)
      throw_error("--gpu-layout nhwc: ", plan_.name, " cannot run in NHWC: ", why,
                  "; use --gpu-layout nchw or auto");
  }
  if (nhwc_) ldc_ = nhwc_pitches(plan_);
  name_ = plan_.name + ", cuda " + precision_name(options_.precision) +
          (options_.backend == Backend::kCudnn ? ", cudnn" : "") + (nhwc_ ? ", nhwc" : "");
  fc_weight_ = plan_.fc_weight;
  fc_bias_ = plan_.fc_bias;

  // Pass 1: every parameter into one host array (and the tensor-core operands into another).
  struct Offsets {
    size_t weight, bias, in_scale, in_shift, out_scale, out_shift, packed;
  };
  Packer<float> fp;
  Packer<uint8_t> tp;
  std::vector<Offsets> off(plan_.steps.size());
  for (size_t i = 0; i < plan_.steps.size(); ++i) {
    const Step& s = plan_.steps[i];
    Offsets& o = off[i];
    // NHWC convs write their tensor's padding channels: zero bias, scale and shift there. They
    // have no float32 fallback, so only their packed weights go to the device.
    const bool nhwc_conv_step = nhwc_ && s.op == StepOp::kConv;
    const NhwcConv nc = nhwc_conv_step ? nhwc_conv(plan_, s, 1, ldc_) : NhwcConv{};
    const int64_t out_pad = nhwc_conv_step ? nc.p.out_channels - s.out.channels : 0;
    auto padded = [&](const std::vector<float>& v) {
      std::vector<float> w = v;
      if (!w.empty()) w.resize(w.size() + static_cast<size_t>(out_pad), 0.0f);
      return w;
    };
    o.weight = nhwc_conv_step ? Packer<float>::kNone : fp.add(s.weight);
    o.bias = fp.add(padded(s.bias));
    o.in_scale = fp.add(s.in_scale), o.in_shift = fp.add(s.in_shift);
    o.out_scale = fp.add(padded(s.out_scale)), o.out_shift = fp.add(padded(s.out_shift));
    o.packed = Packer<uint8_t>::kNone;
    if (nhwc_conv_step) {
      Conv2dParams real = nc.p;
      real.out_channels = s.out.channels;  // the real rows; the padding rows pack as zeros
      const std::vector<uint16_t> w =
          conv2d_nhwc_pack_weights(real, options_.precision, s.weight.data(), s.in.channels);
      o.packed = tp.add(reinterpret_cast<const uint8_t*>(w.data()), w.size() * sizeof(uint16_t));
    } else if (tc && s.op == StepOp::kConv) {
      const std::vector<uint8_t> bytes =
          conv2d_tc_pack_weights(plan_.conv_params(s, 1), options_.precision, s.weight.data());
      o.packed = tp.add(bytes);
    }
  }
  plan_.release_conv_weights();  // on the device from here on

  // Pass 2: one upload each, then offsets become device pointers.
  params_ = DeviceBuffer<float>(fp.data);
  if (tc) packed_ = DeviceBuffer<uint8_t>(tp.data);
  dev_.resize(plan_.steps.size());
  for (size_t i = 0; i < dev_.size(); ++i) {
    const float* base = params_.data();
    DeviceStep& d = dev_[i];
    d.weight = Packer<float>::at(base, off[i].weight), d.bias = Packer<float>::at(base, off[i].bias);
    d.in_scale = Packer<float>::at(base, off[i].in_scale);
    d.in_shift = Packer<float>::at(base, off[i].in_shift);
    d.out_scale = Packer<float>::at(base, off[i].out_scale);
    d.out_shift = Packer<float>::at(base, off[i].out_shift);
    if (tc) d.packed = Packer<uint8_t>::at(packed_.data(), off[i].packed);
  }

  CudaPipeline::Hooks hooks;
  hooks.grow = [this](int64_t batch) { grow(batch); };
  hooks.forward = [this](int64_t batch, const float* in, float* features, cudaStream_t stream) {
    enqueue_forward(batch, in, features, stream, nullptr);
  };
  pipeline_ = std::make_unique<CudaPipeline>(plan_.name, plan_.input_floats(), plan_.feature_dim(), hooks);
  if (options_.backend == Backend::kCudnn) {
#ifdef DICE_HAVE_CUDNN
    cudnn_ = std::make_unique<CudnnState>(pipeline_->stream());
#endif
    pipeline_->set_use_graphs(false);  // see exec_cuda.h
  }
}

CudaModel::~CudaModel() {
  // Work may still be in flight: wait before the cuDNN handle (bound to the compute stream) and
  // the workspace go, then let the pipeline wait for both of its streams and free the slots.
  // Errors are reported, not thrown (a destructor).
  if (pipeline_) {
    const cudaError_t err = cudaStreamSynchronize(pipeline_->stream());
    if (err != cudaSuccess)
      std::fprintf(stderr, "dice: %s: cudaStreamSynchronize failed in the destructor: %s\n",
                   name_.c_str(), cudaGetErrorString(err));
  }
  cudnn_.reset();
  pipeline_.reset();
}

void CudaModel::grow(int64_t batch) {
  // Called by the pipeline with both streams idle and no graphs alive: the old arena is unused.
  arena_.reset();
  base_ = nullptr;
  const size_t act_bytes = static_cast<size_t>(plan_.arena_floats() * batch) * sizeof(float);
  const PlanTensor& image = plan_.tensors[Plan::kInput];
  const int64_t image16 = nhwc_ ? batch * image.height * image.width * ldc_[Plan::kInput] : 0;
  arena_.reserve(DeviceArena::aligned(act_bytes) +
                 DeviceArena::aligned(static_cast<size_t>(image16) * sizeof(uint16_t)));
  base_ = arena_.alloc<float>(plan_.arena_floats() * batch);
  input16_ = nhwc_ ? arena_.alloc<uint16_t>(image16) : nullptr;
  capacity_ = batch;
#ifdef DICE_HAVE_CUDNN
  if (cudnn_) cudnn_->layers.clear();  // nothing in flight (the streams are idle)
#endif
}

ConvFusion CudaModel::fusion(size_t i, const float* residual) const {
  const DeviceStep& d = dev_[i];
  ConvFusion f;
  f.in_scale = d.in_scale, f.in_shift = d.in_shift;
  f.bias = d.bias;
  f.out_scale = d.out_scale, f.out_shift = d.out_shift;
  f.residual = residual;
  f.out_relu = plan_.steps[i].relu;
  return f;
}

void CudaModel::run_conv(size_t i, int64_t batch, const float* in, float* out,
                         const float* residual, cudaStream_t stream) {
  const Conv2dParams p = plan_.conv_params(plan_.steps[i], batch);
  const ConvFusion f = fusion(i, residual);
  if (options_.backend == Backend::kCudnn) {
#ifdef DICE_HAVE_CUDNN
    DICE_ASSERT(!f.in_scale && !f.out_scale && !p.in_batch_stride && !p.out_batch_stride);
    auto& table = cudnn_->layers[batch];
    if (table.empty()) table.resize(plan_.steps.size());
    auto& layer = table[i];
    if (!layer) layer = std::make_unique<CudnnConvLayer>(cudnn_->ctx, p, options_.precision);
    layer->run_fused(in, dev_[i].weight, out, f.bias, residual, f.out_relu);
#else
    throw_error(name_, ": built without cuDNN");  // excluded by check_model_options
#endif
  } else if (dev_[i].packed && conv2d_tc_unsupported(p, f, options_.precision).empty()) {
    conv2d_tc(p, options_.precision, in, dev_[i].packed, out, f, stream);
  } else {
    conv2d_cuda(p, in, dev_[i].weight, out, f, stream);
  }
}

void CudaModel::enqueue_forward_nhwc(int64_t batch, const float* in, float* features,
                                     cudaStream_t stream, OpTimer* timer) {
  const PlanTensor& image = plan_.tensors[Plan::kInput];
  if (timer) timer->begin("to_nhwc", 0, stream);
  nchw_to_nhwc16(batch, image.channels, image.height * image.width, in, input16_,
                 ldc_[Plan::kInput], options_.precision, stream);
  if (timer) timer->end(stream);
  // A tensor's 16-bit NHWC data starts at the same byte as its float32 NCHW slot would.
  auto at = [&](const View& v) -> uint16_t* {
    uint16_t* base = v.tensor == Plan::kInput
                         ? input16_
                         : reinterpret_cast<uint16_t*>(base_) +
                               2 * plan_.tensors[static_cast<size_t>(v.tensor)].offset * batch;
    return base + v.channel;
  };
  for (size_t i = 0; i < plan_.steps.size(); ++i) {
    const Step& s = plan_.steps[i];
    const DeviceStep& d = dev_[i];
    if (timer) timer->begin(s.name, s.flops(batch, plan_.tensors), stream);
    switch (s.op) {
      case StepOp::kConv: {
        NhwcFusion f;
        f.bias = d.bias, f.out_scale = d.out_scale, f.out_shift = d.out_shift, f.relu = s.relu;
        f.residual = s.residual.valid() ? at(s.residual) : nullptr;
        conv2d_nhwc(nhwc_conv(plan_, s, batch, ldc_), options_.precision, at(s.in),
                    static_cast<const uint16_t*>(d.packed), at(s.out), f, stream);
        break;
      }
      case StepOp::kMaxPool: {
        Pool2dParams p = plan_.pool_params(s, batch);
        p.in_batch_stride = p.out_batch_stride = 0;
        p.channels = ldc_[static_cast<size_t>(s.in.tensor)];  // whole tensors (nhwc_unsupported)
        max_pool_nhwc16(p, ldc_[static_cast<size_t>(s.in.tensor)],
                        ldc_[static_cast<size_t>(s.out.tensor)], at(s.in), at(s.out),
                        options_.precision, stream);
        break;
      }
      case StepOp::kGlobalAvgPool: {
        const PlanTensor& t = plan_.tensors[static_cast<size_t>(s.in.tensor)];
        global_avg_pool_nhwc16(batch, s.in.channels, t.height * t.width,
                               ldc_[static_cast<size_t>(s.in.tensor)], at(s.in),
                               features + plan_.view_offset(s.out, batch), options_.precision,
                               stream);
        break;
      }
      case StepOp::kAvgPool:
        DICE_ASSERT(false);  // excluded by nhwc_unsupported
    }
    if (timer) timer->end(stream);
  }
}

void CudaModel::enqueue_forward(int64_t batch, const float* in, float* features,
                                cudaStream_t stream, OpTimer* timer) {
  DICE_ASSERT(batch >= 1 && batch <= capacity_ && base_);
  if (nhwc_) {
    enqueue_forward_nhwc(batch, in, features, stream, timer);
    return;
  }
  auto at = [&](const View& v) -> float* {
    DICE_ASSERT(v.tensor != Plan::kInput);
    return (v.tensor == plan_.features ? features : base_) + plan_.view_offset(v, batch);
  };
  auto in_ptr = [&](const View& v) -> const float* {
    return v.tensor == Plan::kInput ? in + plan_.view_offset(v, batch) : at(v);
  };
  for (size_t i = 0; i < plan_.steps.size(); ++i) {
    const Step& s = plan_.steps[i];
    if (timer) timer->begin(s.name, s.flops(batch, plan_.tensors), stream);
    switch (s.op) {
      case StepOp::kConv:
        run_conv(i, batch, in_ptr(s.in), at(s.out), s.residual.valid() ? in_ptr(s.residual) : nullptr,
                 stream);
        break;
      case StepOp::kMaxPool:
        max_pool2d_cuda(plan_.pool_params(s, batch), in_ptr(s.in), at(s.out), stream);
        break;
      case StepOp::kAvgPool:
        avg_pool2d_cuda(plan_.pool_params(s, batch), in_ptr(s.in), at(s.out), dev_[i].in_scale,
                        dev_[i].in_shift, stream);
        break;
      case StepOp::kGlobalAvgPool: {
        const PlanTensor& t = plan_.tensors[static_cast<size_t>(s.in.tensor)];
        global_avg_pool_cuda(batch, s.in.channels, t.height * t.width, in_ptr(s.in), at(s.out),
                             dev_[i].in_scale, dev_[i].in_shift, t.floats(), stream);
        break;
      }
    }
    if (timer) timer->end(stream);
  }
}

std::vector<OpTime> CudaModel::profile_ops(int64_t batch) {
  if (batch < 1 || batch > pipeline_->capacity())
    throw_error(name(), ": profile_ops: batch ", batch, " outside 1..", pipeline_->capacity(),
                "; prepare() a batch at least as large first");
  OpTimer timer;
  enqueue_forward(batch, pipeline_->slot0_input(), pipeline_->slot0_features(), stream(), &timer);
  DICE_CUDA_CHECK(cudaStreamSynchronize(stream()));
  return timer.results();
}

std::vector<OpTime> CudaModel::profile(const float* x, int64_t batch) {
  prepare(x, batch);
  return profile_ops(batch);
}

std::vector<std::string> CudaModel::tc_fallbacks(int64_t batch) const {
  std::vector<std::string> names;
  if (options_.backend != Backend::kOurs || !is_tensor_core(options_.precision) || nhwc_)
    return names;
  for (size_t i = 0; i < plan_.steps.size(); ++i) {
    const Step& s = plan_.steps[i];
    if (s.op != StepOp::kConv) continue;
    // Only the presence of a residual matters here: any non-null pointer stands for it.
    const ConvFusion f = fusion(i, s.residual.valid() ? dev_[i].weight : nullptr);
    if (!conv2d_tc_unsupported(plan_.conv_params(s, batch), f, options_.precision).empty())
      names.push_back(s.name);
  }
  return names;
}

}  // namespace dice

#endif  // DICE_HAVE_CUDA
