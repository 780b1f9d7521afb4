// Nearest-neighbour methods over the training features (the bank), searched in tiles
// (ood/neighbor_search.h) and finished in double:
//   knn      -|q - b_k|^2 with q = x / (|x| + 1e-10), b_k the k-th nearest normalised train
//            feature: knn-ood (Sun et al. 2022) run_cifar.py (faiss IndexFlatL2 returns squared
//            distances; the score is -D[:, -1])
//   nnguide  mean of the k largest q . g_b, times logsumexp(l(x)), with the guide bank
//            g_b = normalise(b) * logsumexp(l(b)): OpenOOD v1.5 postprocessors/
//            nnguide_postprocessor.py
// Resolved ambiguities (docs/methods.md): NNGuide's normaliser in that file is x / |x| + 1e-10
// (the 1e-10 added after the division) and is kept as written; its bank is the whole --train set
// (alpha = 1); the k winners' values are recomputed in double from the float32 search.
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/parallel.h"
#include "ood/method.h"
#include "ood/neighbor_search.h"
#include "ood/neighbor_search_cuda.h"

namespace dice {
namespace {

// Row i of x, normalised as `knn` (x / (|x| + 1e-10)) or as OpenOOD's NNGuide (x / |x| + 1e-10).
void normalise_row(const float* x, int64_t dim, bool nnguide, double* out) {
  double n2 = 0;
  for (int64_t d = 0; d < dim; ++d) n2 += static_cast<double>(x[d]) * x[d];
  const double norm = std::sqrt(n2);
  for (int64_t d = 0; d < dim; ++d)
    out[d] = nnguide ? x[d] / norm + 1e-10 : x[d] / (norm + 1e-10);
}

class NeighborMethod : public OodMethod {
 public:
  explicit NeighborMethod(const MethodSpec& spec)
      : nnguide_(spec.name == "nnguide"), k_(static_cast<int64_t>(spec.get("k"))) {}

  void fit(const FitInputs& in) override {
    fc_ = in.fc;
    const CachedFeatures& train = require_train(in, nnguide_ ? "nnguide" : "knn");
    if (k_ > train.count)
      throw_error("method '", nnguide_ ? "nnguide" : "knn", "': k=", k_, " exceeds the ",
                  train.count, " training samples; use a smaller k");
    train_ = &train;
    cuda_ = in.cuda;
#ifndef DICE_HAVE_CUDA
    if (cuda_) throw_error("--device cuda: this build has no CUDA backend; rebuild with nvcc or use --device cpu");
#endif
    dim_ = train.dim;
    nb_ = train.count;
    bank32_.resize(static_cast<size_t>(nb_ * dim_));
    if (nnguide_) conf_ = energy_scores(train.logits, fc_->classes);
    if (!nnguide_) bias_.resize(static_cast<size_t>(nb_));
    std::vector<double> b(static_cast<size_t>(dim_));
    for (int64_t i = 0; i < nb_; ++i) {
      bank_row(i, b.data());
      double n2 = 0;
      for (int64_t d = 0; d < dim_; ++d) {
        bank32_[i * dim_ + d] = static_cast<float>(b[d]);
        n2 += b[d] * b[d];
      }
      if (!nnguide_) bias_[i] = static_cast<float>(-0.5 * n2);  // q.b - |b|^2/2 ranks by distance
    }
  }

  std::vector<double> score(const CachedFeatures& x) const override {
    std::vector<double> q(x.features.size());
    std::vector<float> q32(x.features.size());
    for (int64_t i = 0; i < x.count; ++i) {
      normalise_row(x.features.data() + i * dim_, dim_, nnguide_, q.data() + i * dim_);
      for (int64_t d = 0; d < dim_; ++d) q32[i * dim_ + d] = static_cast<float>(q[i * dim_ + d]);
    }
    const float* bias = nnguide_ ? nullptr : bias_.data();
#ifdef DICE_HAVE_CUDA
    const std::vector<int32_t> nn =
        cuda_ ? top_k_neighbors_cuda(q32.data(), x.count, bank32_.data(), nb_, dim_, bias, k_)
              : top_k_neighbors(q32.data(), x.count, bank32_.data(), nb_, dim_, bias, k_);
#else
    const std::vector<int32_t> nn = top_k_neighbors(q32.data(), x.count, bank32_.data(), nb_, dim_, bias, k_);
#endif
    std::vector<double> energy;
    if (nnguide_) energy = energy_scores(x.logits, fc_->classes);
    std::vector<double> out(static_cast<size_t>(x.count));
    parallel_for(x.count, [&](int64_t begin, int64_t end) {
      std::vector<double> b(static_cast<size_t>(dim_));
      for (int64_t i = begin; i < end; ++i) {
        const double* qi = q.data() + i * dim_;
        double worst = 0, sum = 0;
        for (int64_t j = 0; j < k_; ++j) {
          bank_row(nn[i * k_ + j], b.data());
          double v = 0;
          for (int64_t d = 0; d < dim_; ++d)
            v += nnguide_ ? qi[d] * b[d] : (qi[d] - b[d]) * (qi[d] - b[d]);
          worst = std::max(worst, v);
          sum += v;
        }
        out[i] = nnguide_ ? sum / static_cast<double>(k_) * energy[i] : -worst;
      }
    }, 16);
    return out;
  }

 private:
  bool nnguide_, cuda_ = false;
  int64_t k_, dim_ = 0, nb_ = 0;
  const FcLayer* fc_ = nullptr;
  // Bank row i in double: the normalised train feature (for nnguide, times its energy).
  void bank_row(int64_t i, double* out) const {
    normalise_row(train_->features.data() + i * dim_, dim_, nnguide_, out);
    if (nnguide_)
      for (int64_t d = 0; d < dim_; ++d) out[d] *= conf_[i];
  }

  const CachedFeatures* train_ = nullptr;  // the bank's source, kept alive by the caller
  std::vector<double> conf_;               // nnguide: logsumexp of each train sample's logits
  std::vector<float> bank32_, bias_;       // the bank rounded to float32 for the search
};

}  // namespace

std::unique_ptr<OodMethod> make_neighbor_method(const MethodSpec& spec) {
  if (spec.name == "knn" || spec.name == "nnguide") return std::make_unique<NeighborMethod>(spec);
  return nullptr;
}

}  // namespace dice
