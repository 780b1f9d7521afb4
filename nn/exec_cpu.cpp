// The CPU executor (see exec_cpu.h): packs the convs once, then walks the plan's steps.
#include "nn/exec_cpu.h"

#include <chrono>

#include "core/error.h"
#include "kernels/pool.h"

namespace dice {
namespace {
const float* or_null(const std::vector<float>& v) { return v.empty() ? nullptr : v.data(); }
}  // namespace

CpuModel::CpuModel(Plan plan) : plan_(std::move(plan)) {
  packed_.resize(plan_.steps.size());
  for (size_t i = 0; i < plan_.steps.size(); ++i) {
    Step& s = plan_.steps[i];
    if (s.op != StepOp::kConv) continue;
    packed_[i] = conv2d_cpu_pack(plan_.conv_params(s, 1), s.weight.data());
    std::vector<float>().swap(s.weight);  // packed_ holds them now (freed one by one: lower peak)
  }
  fc_weight_ = plan_.fc_weight;
  fc_bias_ = plan_.fc_bias;
}

void CpuModel::features(const float* x, int64_t batch, float* features) {
  run(x, batch, features, nullptr);
}

std::vector<OpTime> CpuModel::profile_steps(const float* x, int64_t batch, float* features) {
  std::vector<OpTime> times;
  run(x, batch, features, &times);
  return times;
}

std::vector<OpTime> CpuModel::profile(const float* x, int64_t batch) {
  std::vector<float> f(static_cast<size_t>(batch * feature_dim()));
  return profile_steps(x, batch, f.data());
}

void CpuModel::run(const float* x, int64_t batch, float* features, std::vector<OpTime>* times) {
  DICE_ASSERT(batch >= 0);
  if (batch == 0) return;
  const size_t need = static_cast<size_t>(plan_.arena_floats() * batch);
  if (arena_.size() < need) {
    std::vector<float>().swap(arena_);  // free the old one before the larger one is made
    arena_.resize(need);
  }
  auto at = [&](const View& v) -> float* {
    return (v.tensor == plan_.features ? features : arena_.data()) + plan_.view_offset(v, batch);
  };
  auto in_ptr = [&](const View& v) -> const float* {
    return v.tensor == Plan::kInput ? x + plan_.view_offset(v, batch) : at(v);
  };
  for (size_t i = 0; i < plan_.steps.size(); ++i) {
    const Step& s = plan_.steps[i];
    const auto start = std::chrono::steady_clock::now();
    switch (s.op) {
      case StepOp::kConv: {
        ConvFusion f;
        f.in_scale = or_null(s.in_scale), f.in_shift = or_null(s.in_shift);
        f.bias = or_null(s.bias);
        f.out_scale = or_null(s.out_scale), f.out_shift = or_null(s.out_shift);
        f.residual = s.residual.valid() ? in_ptr(s.residual) : nullptr;
        f.out_relu = s.relu;
        conv2d_cpu(plan_.conv_params(s, batch), in_ptr(s.in), packed_[i], at(s.out), f);
        break;
      }
      case StepOp::kMaxPool:
        DICE_ASSERT(s.in_scale.empty());
        max_pool2d_cpu(plan_.pool_params(s, batch), in_ptr(s.in), at(s.out));
        break;
      case StepOp::kAvgPool:
        avg_pool2d_cpu(plan_.pool_params(s, batch), in_ptr(s.in), at(s.out), or_null(s.in_scale),
                       or_null(s.in_shift));
        break;
      case StepOp::kGlobalAvgPool: {
        const PlanTensor& t = plan_.tensors[static_cast<size_t>(s.in.tensor)];
        DICE_ASSERT(s.out.tensor == plan_.features);
        global_avg_pool_cpu(batch, s.in.channels, t.height * t.width, in_ptr(s.in), at(s.out),
                            or_null(s.in_scale), or_null(s.in_shift), t.floats());
        break;
      }
    }
    if (times)
      times->push_back({s.name,
                        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count(),
                        s.flops(batch, plan_.tensors)});
  }
}

}  // namespace dice
