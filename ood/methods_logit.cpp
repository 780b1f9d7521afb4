// Methods that read the plain fc logits (and, for GradNorm and fDBD, the feature):
//   msp       max softmax                       OpenOOD v1.5 postprocessors/base_postprocessor.py
//   maxlogit  max logit                         OpenOOD v1.5 postprocessors/maxlogit_postprocessor.py
//   energy    T * logsumexp(l / T)              DICE repo, run evaluation's energy score
//   gen       -sum_{top M} p^g (1-p)^g          GEN repo benchmark.py, generalized_entropy
//   gradnorm  sum|h| * sum_c |C p_c - 1| / T    gradnorm_ood test_ood.py, iterate_data_gradnorm
//   fdbd      sum_c |l_c - l_max| / |w_c - w_max| / |h - mean_train|
//                                               OpenOOD v1.5 postprocessors/fdbd_postprocessor.py
// Resolved ambiguities (docs/methods.md): GEN's softmax runs in float64 (in float32 the top
// probability saturates to 1); GradNorm is the closed form of the reference's fc-weight gradient
// with all-ones targets (the bias gradient is not part of the reference's norm); fDBD uses the
// train feature mean of --train (distance_as_normalizer=True, OpenOOD's default) and the sum over
// classes (the pred class adds 0), as the OpenOOD file does.
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "ood/method.h"

namespace dice {
namespace {

enum class Kind { kMsp, kMaxLogit, kEnergy, kGen, kGradNorm, kFdbd };

class LogitMethod : public OodMethod {
 public:
  LogitMethod(Kind kind, const MethodSpec& spec) : kind_(kind) {
    if (spec.has("T")) T_ = spec.get("T");
    if (spec.has("gamma")) gamma_ = spec.get("gamma");
    if (spec.has("M")) M_ = static_cast<int64_t>(spec.get("M"));
  }

  void fit(const FitInputs& in) override {
    fc_ = in.fc;
    if (kind_ != Kind::kFdbd) return;
    train_mean_ = feature_mean(require_train(in, "fdbd"));
    const int64_t C = fc_->classes, D = fc_->dim;
    inv_den_.assign(static_cast<size_t>(C * C), 0.0);
    for (int64_t p = 0; p < C; ++p)
      for (int64_t c = 0; c < C; ++c) {
        double s = 0;
        for (int64_t d = 0; d < D; ++d) {
          const double diff =
              static_cast<double>(fc_->weight[c * D + d]) - fc_->weight[p * D + d];
          s += diff * diff;
        }
        inv_den_[p * C + c] = c == p ? 1.0 : 1.0 / std::sqrt(s);
      }
  }

  std::vector<double> score(const CachedFeatures& x) const override {
    const int64_t C = fc_->classes, D = x.dim;
    if (kind_ == Kind::kEnergy) return energy_scores(x.logits, C, T_);
    std::vector<double> out(static_cast<size_t>(x.count)), p(static_cast<size_t>(C));
    for (int64_t i = 0; i < x.count; ++i) {
      const float* l = x.logits.data() + i * C;
      const float* h = x.features.data() + i * D;
      double s = 0;
      switch (kind_) {
        case Kind::kMsp:
          softmax_row(l, C, 1.0, p.data());
          s = *std::max_element(p.begin(), p.end());
          break;
        case Kind::kMaxLogit:
          s = *std::max_element(l, l + C);
          break;
        case Kind::kGen: {
          softmax_row(l, C, 1.0, p.data());
          std::sort(p.begin(), p.end());
          for (int64_t c = C - M_; c < C; ++c) s -= std::pow(p[c], gamma_) * std::pow(1 - p[c], gamma_);
          break;
        }
        case Kind::kGradNorm: {
          softmax_row(l, C, T_, p.data());
          double sum_h = 0, sum_p = 0;
          for (int64_t d = 0; d < D; ++d) sum_h += std::fabs(static_cast<double>(h[d]));
          for (int64_t c = 0; c < C; ++c) sum_p += std::fabs(static_cast<double>(C) * p[c] - 1);
          s = sum_h * sum_p / T_;
          break;
        }
        case Kind::kFdbd: {
          const int64_t pred = std::max_element(l, l + C) - l;  // first maximum, as torch.max
          const double top = l[pred];
          for (int64_t c = 0; c < C; ++c) s += std::fabs(l[c] - top) * inv_den_[pred * C + c];
          double dist = 0;
          for (int64_t d = 0; d < D; ++d) {
            const double v = h[d] - train_mean_[d];
            dist += v * v;
          }
          s /= std::sqrt(dist);
          break;
        }
        case Kind::kEnergy:
          break;
      }
      out[i] = s;
    }
    return out;
  }

 private:
  Kind kind_;
  double T_ = 1, gamma_ = 0.1;
  int64_t M_ = 0;
  const FcLayer* fc_ = nullptr;
  std::vector<double> train_mean_, inv_den_;  // fdbd: [pred][class] 1 / |w_class - w_pred|
};

}  // namespace

std::unique_ptr<OodMethod> make_logit_method(const MethodSpec& spec) {
  static const std::pair<const char*, Kind> kinds[] = {
      {"msp", Kind::kMsp},   {"maxlogit", Kind::kMaxLogit}, {"energy", Kind::kEnergy},
      {"gen", Kind::kGen},   {"gradnorm", Kind::kGradNorm}, {"fdbd", Kind::kFdbd}};
  for (const auto& [name, kind] : kinds)
    if (spec.name == name) return std::make_unique<LogitMethod>(kind, spec);
  return nullptr;
}

}  // namespace dice
