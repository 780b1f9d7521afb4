// The network plan (see plan.h): building with shape checks, lifetimes, the arena placement by
// liveness, and the checkpoint helpers the builders share.
#include "nn/plan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "core/strings.h"

namespace dice {
namespace {

int64_t out_side(int64_t side, int64_t kernel, int64_t stride, int64_t pad) {
  return (side + 2 * pad - kernel) / stride + 1;
}

int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

const char* op_name(StepOp op) {
  switch (op) {
    case StepOp::kConv: return "conv";
    case StepOp::kMaxPool: return "max_pool";
    case StepOp::kAvgPool: return "avg_pool";
    case StepOp::kGlobalAvgPool: return "global_avg_pool";
  }
  return "?";
}

double mb(double floats) { return floats * sizeof(float) / 1e6; }

}  // namespace

double Step::flops(int64_t batch, const std::vector<PlanTensor>& tensors) const {
  if (op != StepOp::kConv) return 0;
  const PlanTensor& o = tensors.at(static_cast<size_t>(out.tensor));
  return 2.0 * batch * out.channels * o.height * o.width * in.channels * kernel * kernel;
}

int64_t Plan::fact(const std::string& key) const {
  auto it = facts.find(key);
  if (it == facts.end()) throw_error(name, ": the plan records no '", key, "'");
  return it->second;
}

int Plan::add_input(int64_t channels, int64_t side) {
  DICE_ASSERT(tensors.empty());
  return add_tensor("input", channels, side, side);
}

int Plan::add_tensor(const std::string& tname, int64_t channels, int64_t height, int64_t width) {
  DICE_ASSERT(!finished_ && channels > 0 && height > 0 && width > 0);
  PlanTensor t;
  t.name = tname, t.channels = channels, t.height = height, t.width = width;
  tensors.push_back(t);
  return static_cast<int>(tensors.size()) - 1;
}

View Plan::whole(int tensor) const {
  return View{tensor, 0, tensors.at(static_cast<size_t>(tensor)).channels};
}

int Plan::add(Step s) {
  DICE_ASSERT(!finished_);
  auto check_view = [&](const View& v) {
    DICE_ASSERT(v.tensor >= 0 && v.tensor < static_cast<int>(tensors.size()));
    DICE_ASSERT(v.channel >= 0 && v.channels > 0 &&
                v.channel + v.channels <= tensors[static_cast<size_t>(v.tensor)].channels);
  };
  check_view(s.in);
  check_view(s.out);
  const PlanTensor& in = tensors[static_cast<size_t>(s.in.tensor)];
  const PlanTensor& out = tensors[static_cast<size_t>(s.out.tensor)];
  DICE_ASSERT(s.in.tensor != s.out.tensor);
  if (s.op == StepOp::kGlobalAvgPool) {
    DICE_ASSERT(out.height == 1 && out.width == 1 && s.out.channels == s.in.channels);
  } else {
    DICE_ASSERT(out.height == out_side(in.height, s.kernel, s.stride, s.pad) &&
                out.width == out_side(in.width, s.kernel, s.stride, s.pad));
  }
  if (s.op != StepOp::kConv) DICE_ASSERT(s.in.channels == s.out.channels && s.weight.empty());
  if (s.op == StepOp::kConv) {
    DICE_ASSERT(static_cast<int64_t>(s.weight.size()) ==
                s.out.channels * s.in.channels * s.kernel * s.kernel);
    DICE_ASSERT(s.bias.empty() || static_cast<int64_t>(s.bias.size()) == s.out.channels);
    DICE_ASSERT(s.out_scale.size() == s.out_shift.size());
    DICE_ASSERT(s.out_scale.empty() || static_cast<int64_t>(s.out_scale.size()) == s.out.channels);
  }
  DICE_ASSERT(s.in_scale.size() == s.in_shift.size());
  DICE_ASSERT(s.in_scale.empty() || static_cast<int64_t>(s.in_scale.size()) == s.in.channels);
  if (s.residual.valid()) {
    check_view(s.residual);
    const PlanTensor& r = tensors[static_cast<size_t>(s.residual.tensor)];
    // The kernels read the residual laid out exactly like the output.
    DICE_ASSERT(s.op == StepOp::kConv && r.floats() == out.floats() && r.height == out.height &&
                s.residual.channels == s.out.channels && s.residual.channel == s.out.channel);
  }
  steps.push_back(std::move(s));
  return static_cast<int>(steps.size()) - 1;
}

View Plan::add_new(Step s, const std::string& out_name) {
  const PlanTensor& in = tensors.at(static_cast<size_t>(s.in.tensor));
  int64_t channels = s.op == StepOp::kConv ? s.out.channels : s.in.channels;
  int64_t h = 1, w = 1;
  if (s.op != StepOp::kGlobalAvgPool)
    h = out_side(in.height, s.kernel, s.stride, s.pad), w = out_side(in.width, s.kernel, s.stride, s.pad);
  const int t = add_tensor(out_name, channels, h, w);
  s.out = whole(t);
  add(std::move(s));
  return whole(t);
}

void Plan::finish(int features_tensor) {
  DICE_ASSERT(!finished_ && !steps.empty());
  features = features_tensor;
  const PlanTensor& f = tensors.at(static_cast<size_t>(features));
  DICE_ASSERT(f.height == 1 && f.width == 1);
  // Lifetimes: from the first write to the last read; a tensor read before any write (other than
  // the input) is a builder bug.
  for (int i = 0; i < static_cast<int>(steps.size()); ++i) {
    const Step& s = steps[static_cast<size_t>(i)];
    for (const View* v : {&s.in, &s.residual}) {
      if (!v->valid()) continue;
      PlanTensor& t = tensors[static_cast<size_t>(v->tensor)];
      DICE_ASSERT(v->tensor == kInput || (t.first >= 0 && t.first < i));
      t.last = std::max(t.last, i);
    }
    PlanTensor& o = tensors[static_cast<size_t>(s.out.tensor)];
    DICE_ASSERT(s.out.tensor != kInput);
    if (o.first < 0) o.first = i;
    o.last = std::max(o.last, i);
  }
  tensors[kInput].first = 0;
  for (const PlanTensor& t : tensors) DICE_ASSERT(t.first >= 0);  // every tensor is used
  assign_memory();
  parameter_floats_ = fc_weight.numel() + fc_bias.numel();
  for (const Step& s : steps)
    parameter_floats_ += static_cast<int64_t>(s.weight.size() + s.bias.size() + s.in_scale.size() +
                                              s.in_shift.size() + s.out_scale.size() + s.out_shift.size());
  finished_ = true;
}

// Greedy by size (the placement TFLite's arena planner uses): the largest tensors first, each at
// the lowest offset that overlaps no already placed tensor whose lifetime meets its own.
void Plan::assign_memory() {
  std::vector<int> order;
  for (int i = 0; i < static_cast<int>(tensors.size()); ++i)
    if (i != kInput && i != features) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return tensors[static_cast<size_t>(a)].floats() > tensors[static_cast<size_t>(b)].floats();
  });
  std::vector<int> placed;
  arena_floats_ = 0;
  for (int i : order) {
    PlanTensor& t = tensors[static_cast<size_t>(i)];
    const int64_t size = round_up(t.floats(), kAlignFloats);
    std::vector<std::pair<int64_t, int64_t>> busy;  // [begin, end) of conflicting tensors
    for (int j : placed) {
      const PlanTensor& u = tensors[static_cast<size_t>(j)];
      if (u.first <= t.last && t.first <= u.last)
        busy.emplace_back(u.offset, u.offset + round_up(u.floats(), kAlignFloats));
    }
    std::sort(busy.begin(), busy.end());
    int64_t offset = 0;
    for (const auto& b : busy) {
      if (b.first >= offset + size) break;
      offset = std::max(offset, b.second);
    }
    t.offset = offset;
    arena_floats_ = std::max(arena_floats_, offset + size);
    placed.push_back(i);
  }
}

Conv2dParams Plan::conv_params(const Step& s, int64_t batch) const {
  const PlanTensor& in = tensors.at(static_cast<size_t>(s.in.tensor));
  Conv2dParams p;
  p.batch = batch, p.in_channels = s.in.channels, p.height = in.height, p.width = in.width;
  p.out_channels = s.out.channels, p.kernel = s.kernel, p.stride = s.stride, p.pad = s.pad;
  // Strides only where a slice makes them differ from a whole tensor's (0 = contiguous), so
  // backends without slice support (cuDNN) see the plain problem.
  if (in.floats() != p.in_channels * p.height * p.width) p.in_batch_stride = in.floats();
  if (batch_stride(s.out.tensor) != p.out_channels * p.out_height() * p.out_width())
    p.out_batch_stride = batch_stride(s.out.tensor);
  return p;
}

Pool2dParams Plan::pool_params(const Step& s, int64_t batch) const {
  const PlanTensor& in = tensors.at(static_cast<size_t>(s.in.tensor));
  Pool2dParams p;
  p.batch = batch, p.channels = s.in.channels, p.height = in.height, p.width = in.width;
  p.kernel = s.kernel, p.stride = s.stride, p.pad = s.pad;
  if (in.floats() != p.channels * p.height * p.width) p.in_batch_stride = in.floats();
  if (batch_stride(s.out.tensor) != p.channels * p.out_height() * p.out_width())
    p.out_batch_stride = batch_stride(s.out.tensor);
  return p;
}

void Plan::release_conv_weights() {
  for (Step& s : steps) std::vector<float>().swap(s.weight);
}

double Plan::flops(int64_t batch) const {
  double f = 0;
  for (const Step& s : steps) f += s.flops(batch, tensors);
  return f;
}

std::string Plan::summary(int64_t batch) const {
  std::string out;
  appendf(out, "%s: %zu steps, %.2f M parameters (%.1f MB), %.2f GFLOP per image; activations "
          "%.1f MB at batch %lld (arena by liveness; %.1f MB if every tensor had its own)",
          name.c_str(), steps.size(), parameter_floats() / 1e6, mb(static_cast<double>(parameter_floats())),
          flops(1) / 1e9, mb(static_cast<double>(arena_floats_) * batch), static_cast<long long>(batch),
          [&] {
            double all = 0;
            for (size_t i = 1; i < tensors.size(); ++i)
              if (static_cast<int>(i) != features) all += static_cast<double>(tensors[i].floats());
            return mb(all * batch);
          }());
  return out;
}

std::string Plan::describe(int64_t batch) const {
  std::string out;
  auto shape = [&](const View& v) {
    const PlanTensor& t = tensors[static_cast<size_t>(v.tensor)];
    std::string s = t.name;
    if (v.channels != t.channels)
      appendf(s, "[%lld:%lld]", static_cast<long long>(v.channel),
              static_cast<long long>(v.channel + v.channels));
    appendf(s, " %lldx%lldx%lld", static_cast<long long>(v.channels),
            static_cast<long long>(t.height), static_cast<long long>(t.width));
    return s;
  };
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& s = steps[i];
    appendf(out, "  %3zu %-15s %-22s %s -> %s", i, op_name(s.op), s.name.c_str(),
            shape(s.in).c_str(), shape(s.out).c_str());
    if (s.op != StepOp::kGlobalAvgPool)
      appendf(out, "  k%lld/s%lld/p%lld", static_cast<long long>(s.kernel),
              static_cast<long long>(s.stride), static_cast<long long>(s.pad));
    if (!s.in_scale.empty()) out += " +in_bn_relu";
    if (!s.bias.empty()) out += " +bias";
    if (!s.out_scale.empty()) out += " +out_bn";
    if (s.residual.valid()) out += " +residual(" + tensors[static_cast<size_t>(s.residual.tensor)].name + ")";
    if (s.relu) out += " +relu";
    out += "\n";
  }
  out += "  " + summary(batch) + "\n";
  return out;
}

namespace {
// BatchNorm `prefix`'s four tensors, each checked to hold `channels` entries.
struct BnTensors {
  const Tensor &gamma, &beta, &mean, &var;
};
BnTensors bn_tensors(const StateDict& sd, const std::string& prefix, int64_t channels) {
  const std::vector<int64_t> shape{channels};
  return {sd.at(prefix + ".weight", shape), sd.at(prefix + ".bias", shape),
          sd.at(prefix + ".running_mean", shape), sd.at(prefix + ".running_var", shape)};
}
}  // namespace

BnAffine load_bn(const StateDict& sd, const std::string& prefix, int64_t channels) {
  const BnTensors bn = bn_tensors(sd, prefix, channels);
  return bn_fold(bn.gamma.ptr(), bn.beta.ptr(), bn.mean.ptr(), bn.var.ptr(), channels, 1e-5);
}

Step plain_conv(const StateDict& sd, const std::string& key, int64_t in_channels, int64_t stride,
                int64_t pad) {
  const Tensor& w = sd.at(key + ".weight");
  if (w.dim() != 4 || w.size(2) != w.size(3) || w.size(1) != in_channels)
    throw_error(sd.source, ": ", key, ".weight has shape ", w.shape_str(), ", expected (out, ",
                in_channels, ", k, k)");
  Step s;
  s.op = StepOp::kConv;
  s.name = key;
  s.kernel = w.size(2), s.stride = stride, s.pad = pad;
  s.weight = w.data;
  s.in.channels = in_channels, s.out.channels = w.size(0);
  return s;
}

Step folded_conv(const StateDict& sd, const std::string& conv, const std::string& bn,
                 int64_t in_channels, int64_t stride, int64_t pad) {
  Step s = plain_conv(sd, conv, in_channels, stride, pad);
  const int64_t out = s.out.channels, per = in_channels * s.kernel * s.kernel;
  const BnTensors t = bn_tensors(sd, bn, out);
  s.bias.resize(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    const double k = t.gamma.data[o] / std::sqrt(static_cast<double>(t.var.data[o]) + 1e-5);
    for (int64_t j = 0; j < per; ++j) s.weight[o * per + j] = static_cast<float>(s.weight[o * per + j] * k);
    s.bias[o] = static_cast<float>(t.beta.data[o] - t.mean.data[o] * k);
  }
  return s;
}

}  // namespace dice
