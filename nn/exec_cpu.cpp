// The CPU executor (see exec_cpu.h): packs the convs once, then walks the plan's steps: the
// leading steps image by image on per-thread arenas (depth first), the rest over the whole batch.
#include "nn/exec_cpu.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "core/huge_pages.h"
#include "core/parallel.h"
#include "kernels/conv2d_panel.h"
#include "kernels/pool.h"

namespace dice {
namespace {
const float* or_null(const std::vector<float>& v) { return v.empty() ? nullptr : v.data(); }

int64_t view_floats(const Plan& plan, const View& v) {
  const PlanTensor& t = plan.tensors.at(static_cast<size_t>(v.tensor));
  return v.channels * t.height * t.width;
}

ConvFusion conv_fusion(const Step& s) {
  ConvFusion f;
  f.in_scale = or_null(s.in_scale), f.in_shift = or_null(s.in_shift);
  f.bias = or_null(s.bias);
  f.out_scale = or_null(s.out_scale), f.out_shift = or_null(s.out_shift);
  f.out_relu = s.relu;
  return f;
}

// DICE_CPU_FUSE=0 in the environment: every step on its own (A/B measurements).
bool fusion_enabled() {
  static const bool on = [] {
    const char* e = std::getenv("DICE_CPU_FUSE");
    return !(e && e[0] == '0' && e[1] == '\0');
  }();
  return on;
}
}  // namespace

CpuModel::CpuModel(Plan plan, Precision precision)
    : plan_(std::move(plan)), precision_(precision) {
  packed_.resize(plan_.steps.size());
  for (size_t i = 0; i < plan_.steps.size(); ++i) {
    Step& s = plan_.steps[i];
    if (s.op != StepOp::kConv) continue;
    packed_[i] = conv2d_cpu_pack(plan_.conv_params(s, 1), s.weight.data(), precision);
    std::vector<float>().swap(s.weight);  // packed_ holds them now (freed one by one: lower peak)
    // 2 MB pages for the weights and (below) the arena. Measured (2 EPYC cores, ResNet-50,
    // alternating on/off, five runs each): batch 32 26.0 -> 27.2 img/s (medians; `--profile` step
    // minima 1151.6 -> 1105.1 and 1125.6 -> 1092.0 ms), batch 1 43.0-52.1 -> 40.5-44.0 ms;
    // DenseNet-101 batch 128 unchanged within noise.
    for (std::vector<float>* v : {&packed_[i].a, &packed_[i].winograd, &packed_[i].at, &packed_[i].bf16})
      advise_huge_pages(v->data(), v->size() * sizeof(float));
  }
  fc_weight_ = plan_.fc_weight;
  fc_bias_ = plan_.fc_bias;

  // Depth first while a step's packed weights are no larger than what it reads and writes for one
  // image (ResNet-50: up to layer2's first 3x3 under F(4x4) Winograd, whose 2.4 MB of filters
  // outweigh its 0.8 MB of activations; DenseNet-BC: every conv), and never the step that writes
  // the features (they live in the caller's buffer).
  split_ = 0;
  while (split_ < plan_.steps.size()) {
    const Step& s = plan_.steps[split_];
    if (s.out.tensor == plan_.features) break;
    const Conv2dCpuPacked& w = packed_[split_];
    const int64_t weights = static_cast<int64_t>(w.a.size() + w.winograd.size() + w.bf16.size());
    const int64_t acts = view_floats(plan_, s.in) + view_floats(plan_, s.out);
    if (weights > acts) break;
    ++split_;
  }
  // The tensors the prefix leaves for the rest: made before split_, read from split_ on.
  std::vector<char> made(plan_.tensors.size(), 0), live(plan_.tensors.size(), 0);
  for (size_t i = 0; i < split_; ++i) made[static_cast<size_t>(plan_.steps[i].out.tensor)] = 1;
  for (size_t i = split_; i < plan_.steps.size(); ++i) {
    const Step& s = plan_.steps[i];
    for (const View* v : {&s.in, &s.residual})
      if (v->valid() && v->tensor >= 0 && made[static_cast<size_t>(v->tensor)])
        live[static_cast<size_t>(v->tensor)] = 1;
  }
  for (size_t t = 0; t < live.size(); ++t)
    if (live[t]) {
      DICE_ASSERT(plan_.tensors[t].offset >= 0);
      live_out_.push_back(static_cast<int>(t));
    }
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

std::vector<char> CpuModel::panel_layouts(int64_t batch, bool whole_panels) const {
  const size_t n = plan_.tensors.size();
  std::vector<char> panel(n, 0);
  if (precision_ != Precision::kFp32 || !cpu_panels_enabled()) return panel;
  auto whole = [&](const View& v) {
    return v.valid() && v.channel == 0 && v.channels == plan_.tensors[static_cast<size_t>(v.tensor)].channels;
  };
  // A conv conv2d_cpu_panels runs (its weights as packed, its fusions as the step has them).
  auto panel_conv = [&](size_t i) {
    const Step& s = plan_.steps[i];
    if (s.op != StepOp::kConv || !whole(s.in) || !whole(s.out)) return false;
    ConvFusion f;
    if (!s.in_scale.empty()) f.in_scale = s.in_scale.data();
    return conv2d_panels_supported(plan_.conv_params(s, batch), f, packed_[i]);
  };
  for (size_t t = 0; t < n; ++t) {
    const PlanTensor& pt = plan_.tensors[t];
    panel[t] = static_cast<int>(t) != Plan::kInput && static_cast<int>(t) != plan_.features &&
               pt.first >= 0 && (!whole_panels || cpu_panels_fit(batch, pt.height * pt.width));
  }
  // Writers and readers that cannot take panels rule their tensors out.
  for (size_t i = 0; i < plan_.steps.size(); ++i) {
    const Step& s = plan_.steps[i];
    const bool conv = panel_conv(i);
    const bool pool = s.op == StepOp::kGlobalAvgPool && s.in_scale.empty() && whole(s.in);
    if (!conv) panel[static_cast<size_t>(s.out.tensor)] = 0;
    if (s.in.tensor >= 0 && !conv && !pool) panel[static_cast<size_t>(s.in.tensor)] = 0;
    if (s.residual.valid() && !whole(s.residual)) panel[static_cast<size_t>(s.residual.tensor)] = 0;
  }
  // A residual is read in its conv's output layout, and a strided conv writes panels only from
  // panels: until nothing changes.
  for (bool changed = true; changed;) {
    changed = false;
    for (const Step& s : plan_.steps) {
      if (s.op != StepOp::kConv) continue;
      char& out = panel[static_cast<size_t>(s.out.tensor)];
      if (s.residual.valid()) {
        char& res = panel[static_cast<size_t>(s.residual.tensor)];
        if (out != res) out = res = 0, changed = true;
      }
      if (s.stride != 1 && out && !panel[static_cast<size_t>(s.in.tensor)]) out = 0, changed = true;
    }
  }
  return panel;
}

std::string CpuModel::step_label(size_t i, int64_t batch) const {
  const Step& s = plan_.steps[i];
  if (s.op == StepOp::kMaxPool && i > 0 && fuses_pool(i - 1, batch))
    return s.name + " (in " + plan_.steps[i - 1].name + ")";
  return s.name;
}

bool CpuModel::fuses_pool(size_t i, int64_t batch) const {
  if (i + 1 >= plan_.steps.size() || !fusion_enabled()) return false;
  const Step& s = plan_.steps[i];
  const Step& pool = plan_.steps[i + 1];
  if (s.op != StepOp::kConv || pool.op != StepOp::kMaxPool || !pool.in_scale.empty() ||
      s.residual.valid() || pool.in.tensor != s.out.tensor || s.out.tensor == plan_.features)
    return false;
  const PlanTensor& t = plan_.tensors[static_cast<size_t>(s.out.tensor)];
  if (s.out.channel != 0 || s.out.channels != t.channels || pool.in.channel != 0 ||
      pool.in.channels != t.channels)
    return false;
  // The pool the only reader of the conv's output.
  for (size_t j = 0; j < plan_.steps.size(); ++j) {
    const Step& r = plan_.steps[j];
    if (j != i + 1 && (r.in.tensor == s.out.tensor || r.residual.tensor == s.out.tensor)) return false;
  }
  return conv2d_maxpool_fusable(plan_.conv_params(s, batch), conv_fusion(s), packed_[i],
                                plan_.pool_params(pool, batch));
}

void CpuModel::run_step(size_t i, const float* x, int64_t batch, float* arena, float* features,
                        const std::vector<char>& panels) {
  const Step& s = plan_.steps[i];
  auto layout = [&](const View& v) {
    return v.tensor >= 0 && panels[static_cast<size_t>(v.tensor)] ? ActLayout::kPanels
                                                                   : ActLayout::kNchw;
  };
  auto at = [&](const View& v) -> float* {
    return (v.tensor == plan_.features ? features : arena) + plan_.view_offset(v, batch);
  };
  auto in_ptr = [&](const View& v) -> const float* {
    return v.tensor == Plan::kInput ? x + plan_.view_offset(v, batch) : at(v);
  };
  switch (s.op) {
    case StepOp::kConv: {
      ConvFusion f = conv_fusion(s);
      f.residual = s.residual.valid() ? in_ptr(s.residual) : nullptr;
      if (fuses_pool(i, batch)) {  // the conv and the max pool after it in one pass
        const Step& pool = plan_.steps[i + 1];
        conv2d_maxpool_cpu(plan_.conv_params(s, batch), in_ptr(s.in), packed_[i], f,
                           plan_.pool_params(pool, batch), at(pool.out));
        break;
      }
      const ActLayout li = layout(s.in), lo = layout(s.out);
      if (li == ActLayout::kPanels || lo == ActLayout::kPanels)
        conv2d_cpu_panels(plan_.conv_params(s, batch), li, in_ptr(s.in), packed_[i], lo, at(s.out), f);
      else
        conv2d_cpu(plan_.conv_params(s, batch), in_ptr(s.in), packed_[i], at(s.out), f);
      break;
    }
    case StepOp::kMaxPool:
      DICE_ASSERT(s.in_scale.empty());
      if (i > 0 && fuses_pool(i - 1, batch)) break;  // run with its conv
      max_pool2d_cpu(plan_.pool_params(s, batch), in_ptr(s.in), at(s.out));
      break;
    case StepOp::kAvgPool:
      avg_pool2d_cpu(plan_.pool_params(s, batch), in_ptr(s.in), at(s.out), or_null(s.in_scale),
                     or_null(s.in_shift));
      break;
    case StepOp::kGlobalAvgPool: {
      const PlanTensor& t = plan_.tensors[static_cast<size_t>(s.in.tensor)];
      DICE_ASSERT(s.out.tensor == plan_.features);
      if (layout(s.in) == ActLayout::kPanels) {
        global_avg_pool_panels(batch, s.in.channels, t.height * t.width, in_ptr(s.in), at(s.out));
        break;
      }
      global_avg_pool_cpu(batch, s.in.channels, t.height * t.width, in_ptr(s.in), at(s.out),
                          or_null(s.in_scale), or_null(s.in_shift), t.floats());
      break;
    }
  }
}

void CpuModel::run_prefix(const float* x, int64_t batch, float* features,
                          const std::vector<char>& all, std::vector<OpTime>* times) {
  const int64_t workers = std::min<int64_t>(num_threads(), batch);
  if (static_cast<int64_t>(worker_arenas_.size()) < workers) worker_arenas_.resize(static_cast<size_t>(workers));
  for (int64_t w = 0; w < workers; ++w)
    if (static_cast<int64_t>(worker_arenas_[static_cast<size_t>(w)].size()) < plan_.arena_floats())
      worker_arenas_[static_cast<size_t>(w)].resize(static_cast<size_t>(plan_.arena_floats()));
  const int64_t in_floats = plan_.input_floats();
  // Layouts: each image's steps at batch 1, the results copied into the batch's (`all`); panels
  // only where an image fills whole ones, so that they are a block of the batch's panels.
  const std::vector<char> one = panel_layouts(1, true);
  // Profiling: each worker's time per step (and for the copy-out), summed over its images.
  std::vector<std::vector<double>> spent(static_cast<size_t>(times ? workers : 0),
                                         std::vector<double>(split_ + 1, 0.0));
  using Clock = std::chrono::steady_clock;
  std::atomic<int64_t> next{0};
  parallel_for(workers, [&](int64_t w0, int64_t w1) {
    for (int64_t w = w0; w < w1; ++w) {
      float* a = worker_arenas_[static_cast<size_t>(w)].data();
      double* ms = times ? spent[static_cast<size_t>(w)].data() : nullptr;
      for (int64_t img; (img = next.fetch_add(1, std::memory_order_relaxed)) < batch;) {
        Clock::time_point t0 = Clock::now();
        auto lap = [&](size_t slot) {
          if (!ms) return;
          const Clock::time_point t1 = Clock::now();
          ms[slot] += std::chrono::duration<double, std::milli>(t1 - t0).count();
          t0 = t1;
        };
        for (size_t s = 0; s < split_; ++s) {
          run_step(s, x + img * in_floats, 1, a, features, one);
          lap(s);
        }
        for (int t : live_out_) {
          const PlanTensor& pt = plan_.tensors[static_cast<size_t>(t)];
          float* dst = arena_.data() + pt.offset * batch;
          // One image's panels are whole panels of the batch's (its map fills them), so both
          // NCHW and panels copy as a block; only NCHW into panels is rearranged.
          DICE_ASSERT(!one[static_cast<size_t>(t)] || all[static_cast<size_t>(t)]);
          if (all[static_cast<size_t>(t)] && !one[static_cast<size_t>(t)])
            nchw_image_to_panels(a + pt.offset, img, batch, pt.channels, pt.height * pt.width, dst);
          else
            std::memcpy(dst + img * pt.floats(), a + pt.offset,
                        sizeof(float) * static_cast<size_t>(pt.floats()));
        }
        lap(split_);
      }
    }
  });
  if (!times) return;
  // A step's share of the wall clock: its time summed over the workers, over the workers (they
  // run different images of the same steps side by side).
  auto mean = [&](size_t slot) {
    double sum = 0;
    for (const std::vector<double>& v : spent) sum += v[slot];
    return sum / static_cast<double>(workers);
  };
  for (size_t s = 0; s < split_; ++s) {
    const Step& st = plan_.steps[s];
    times->push_back({step_label(s, 1) + " *", mean(s), st.flops(batch, plan_.tensors)});
  }
  times->push_back({"(depth-first copy-out) *", mean(split_), 0});
}

void CpuModel::run(const float* x, int64_t batch, float* features, std::vector<OpTime>* times) {
  DICE_ASSERT(batch >= 0);
  if (batch == 0) return;
  const size_t need = static_cast<size_t>(plan_.arena_floats() * batch);
  if (arena_.size() < need) {
    std::vector<float>().swap(arena_);  // free the old one before the larger one is made
    arena_.resize(need);
    advise_huge_pages(arena_.data(), need * sizeof(float));
  }
  // Profiling follows the same schedule: the prefix's steps are timed per worker (marked '*').
  size_t first = 0;
  const std::vector<char> panels = panel_layouts(batch);
  if (batch >= 2 && split_ > 0) {
    run_prefix(x, batch, features, panels, times);
    first = split_;
  }
  for (size_t i = first; i < plan_.steps.size(); ++i) {
    const auto start = std::chrono::steady_clock::now();
    run_step(i, x, batch, arena_.data(), features, panels);
    if (times) {
      const Step& s = plan_.steps[i];
      times->push_back({step_label(i, batch),
                        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count(),
                        s.flops(batch, plan_.tensors)});
    }
  }
}

}  // namespace dice
