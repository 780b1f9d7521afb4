// Methods that reshape the feature or the fc layer, then score with the energy:
//   react       h = min(h, clip), clip = the p-th percentile of all train feature entries
//               OpenOOD v1.5 postprocessors/react_postprocessor.py (np.percentile of the flattened
//               activation log); clip= overrides the percentile
//   dice        the DICE-masked fc layer (ood/dice_mask.h), DICE repo models/route.py RouteDICE
//   dice_react  ReAct's clip, then the DICE layer; the mask comes from the unclipped mean
//   ash_p/b/s   per sample keep the k = n - round(n p / 100) largest entries of the pooled
//               feature; ash_p keeps them, ash_b sets them to sum(h) / k, ash_s multiplies them
//               by exp(s1 / s2) (s1 = sum before, s2 = after pruning): ASH repo ash.py
//   scale       SCALE: the unpruned h times exp(s1 / s2), with the top-k of ASH;
//               OpenOOD v1.5 postprocessors/scale_postprocessor.py
// Resolved ambiguities (docs/methods.md): np.round is half to even (std::nearbyint); top-k ties
// keep the lower index; a shaped feature is rounded to float32 before the fc layer, as the
// reference's float32 tensors are; the ReAct percentile is numpy's linear one over the train
// entries widened to float64, rounded to float32; DICE's mean is --feat-stat, else the train mean.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/parallel.h"
#include "ood/dice_mask.h"
#include "ood/method.h"

namespace dice {
namespace {

// The ReAct threshold: the p-th percentile of every entry of the training features.
float react_threshold(const CachedFeatures& train, double p) {
  std::vector<double> all(train.features.begin(), train.features.end());
  return static_cast<float>(percentile_linear(std::move(all), p));
}

class ClipMaskMethod : public OodMethod {
 public:
  explicit ClipMaskMethod(const MethodSpec& spec) : spec_(spec) {}

  void fit(const FitInputs& in) override {
    fc_ = in.fc;
    const bool react = spec_.name != "dice", dice = spec_.name != "react";
    if (react)
      clip_ = spec_.has("clip") ? static_cast<float>(spec_.get("clip"))
                                : react_threshold(require_train(in, spec_.name.c_str()),
                                                  spec_.get("percentile"));
    if (dice) {
      std::vector<double> mean;
      if (in.feat_stat) {
        mean = *in.feat_stat;
      } else if (in.train) {
        mean = feature_mean(*in.train);
      } else {
        throw_error("method '", spec_.name, "' needs DICE's feature mean: pass --feat-stat NPY "
                    "(e.g. cache/CIFAR-10_densenet_feat_stat.npy) or --train PREFIX");
      }
      const std::vector<uint8_t> mask =
          dice_mask(fc_->weight.data(), fc_->classes, fc_->dim, mean.data(), spec_.get("p")).mask;
      kept_start_.assign(1, 0);
      for (int64_t c = 0; c < fc_->classes; ++c) {
        for (int64_t d = 0; d < fc_->dim; ++d)
          if (mask[c * fc_->dim + d]) kept_.push_back(static_cast<int32_t>(d));
        kept_start_.push_back(static_cast<int64_t>(kept_.size()));
      }
    }
  }

  std::vector<double> score(const CachedFeatures& x) const override {
    if (kept_start_.empty())  // react: the dense fc on the clipped feature
      return energy_scores(fc_logits(*fc_, x.features.data(), x.count, nullptr, clip_), fc_->classes);
    // The DICE layer over the kept weights only (10% of them at p = 90), each logit summed over
    // its kept features in feature order: bit-identical to the masked head_cpu, which adds +0.0
    // for a masked weight.
    const int64_t C = fc_->classes, D = x.dim;
    std::vector<float> logits(static_cast<size_t>(x.count * C));
    parallel_for(x.count, [&](int64_t begin, int64_t end) {
      std::vector<double> h(static_cast<size_t>(D));
      for (int64_t i = begin; i < end; ++i) {
        for (int64_t d = 0; d < D; ++d) h[d] = std::min(x.features[i * D + d], clip_);
        for (int64_t c = 0; c < C; ++c) {
          const float* w = fc_->weight.data() + c * D;
          double acc = 0;
          for (int64_t j = kept_start_[c]; j < kept_start_[c + 1]; ++j)
            acc += static_cast<double>(w[kept_[j]]) * h[kept_[j]];
          logits[i * C + c] = static_cast<float>(acc + fc_->bias[c]);
        }
      }
    }, 16);
    return energy_scores(logits, C);
  }

 private:
  MethodSpec spec_;
  const FcLayer* fc_ = nullptr;
  float clip_ = std::numeric_limits<float>::infinity();
  std::vector<int32_t> kept_;        // dice: the kept features of class 0, then class 1, ...
  std::vector<int64_t> kept_start_;  // [classes + 1] offsets into kept_; empty for react
};

enum class Shape { kAshP, kAshB, kAshS, kScale };

class PruneMethod : public OodMethod {
 public:
  PruneMethod(Shape shape, const MethodSpec& spec)
      : shape_(shape), name_(spec.name), percentile_(spec.get("percentile")) {}

  void fit(const FitInputs& in) override {
    fc_ = in.fc;
    const int64_t n = fc_->dim;
    k_ = n - static_cast<int64_t>(std::nearbyint(static_cast<double>(n) * percentile_ / 100.0));
    if (k_ < 1)
      throw_error("method '", name_, "': percentile=", percentile_, " keeps none of the ", n,
                  " feature entries; use a smaller percentile");
  }

  std::vector<double> score(const CachedFeatures& x) const override {
    const int64_t D = x.dim;
    std::vector<float> shaped(x.features.size());
    parallel_for(x.count, [&](int64_t begin, int64_t end) {
      std::vector<int32_t> idx(static_cast<size_t>(D));
      std::vector<uint8_t> keep(static_cast<size_t>(D));
      for (int64_t i = begin; i < end; ++i) {
        const float* h = x.features.data() + i * D;
        float* out = shaped.data() + i * D;
        std::iota(idx.begin(), idx.end(), 0);
        std::nth_element(idx.begin(), idx.begin() + (k_ - 1), idx.end(), [&](int32_t a, int32_t b) {
          return h[a] > h[b] || (h[a] == h[b] && a < b);
        });
        std::fill(keep.begin(), keep.end(), 0);
        for (int64_t j = 0; j < k_; ++j) keep[idx[j]] = 1;
        double s1 = 0, s2 = 0;
        for (int64_t d = 0; d < D; ++d) {
          s1 += h[d];
          if (keep[d]) s2 += h[d];
        }
        for (int64_t d = 0; d < D; ++d) {
          double v = 0;
          switch (shape_) {
            case Shape::kAshP: v = keep[d] ? h[d] : 0.0; break;
            case Shape::kAshB: v = keep[d] ? s1 / static_cast<double>(k_) : 0.0; break;
            case Shape::kAshS: v = keep[d] ? h[d] * std::exp(s1 / s2) : 0.0; break;
            case Shape::kScale: v = h[d] * std::exp(s1 / s2); break;
          }
          out[d] = static_cast<float>(v);
        }
      }
    }, 16);
    return energy_scores(fc_logits(*fc_, shaped.data(), x.count), fc_->classes);
  }

 private:
  Shape shape_;
  std::string name_;
  double percentile_;
  int64_t k_ = 0;
  const FcLayer* fc_ = nullptr;
};

}  // namespace

std::unique_ptr<OodMethod> make_shaping_method(const MethodSpec& spec) {
  if (spec.name == "react" || spec.name == "dice" || spec.name == "dice_react")
    return std::make_unique<ClipMaskMethod>(spec);
  static const std::pair<const char*, Shape> shapes[] = {
      {"ash_p", Shape::kAshP}, {"ash_b", Shape::kAshB}, {"ash_s", Shape::kAshS},
      {"scale", Shape::kScale}};
  for (const auto& [name, shape] : shapes)
    if (spec.name == name) return std::make_unique<PruneMethod>(shape, spec);
  return nullptr;
}

}  // namespace dice
