// Methods that fit Gaussians (or a principal subspace) to the training features:
//   mahalanobis  -min_c (x - mu_c)^T P (x - mu_c); mu_c the class means, P = pinvh of one shared
//                covariance of the class-centred features (assume_centered=True), no input noise:
//                ViM repo benchmark.py, the Mahalanobis block
//   rmds         max_c [-(x - mu_c)^T P (x - mu_c) + (x - mu)^T P0 (x - mu)], P0 from the whole
//                train set around its mean mu (both covariances assume_centered=False):
//                OpenOOD v1.5 postprocessors/rmds_postprocessor.py
//   vim          logsumexp(l) - alpha |(x - u) NS|, u = -pinv(W) b, NS the eigenvectors of the
//                covariance of (x_train - u) beyond the top `dim`, alpha = mean train max-logit /
//                mean train residual: ViM repo benchmark.py
// Resolved ambiguities (docs/methods.md): everything in float64 (the references mix float32 GPU
// arithmetic in); pinvh drops eigenvalues <= n eps max|lambda| (scipy's default); a quadratic
// form is evaluated through the whitened coordinates z = Lambda^-1/2 V^T x, so it is a sum of
// squares and never cancels; pinv(W) = W^T (W W^T)^+ (C <= D) or (W^T W)^+ W^T.
#include <algorithm>
#include <cmath>
#include <functional>

#include "core/echo.h"
#include "core/error.h"
#include "core/parallel.h"
#include "kernels/gemm_cpu.h"
#include "ood/linalg.h"
#include "ood/method.h"

namespace dice {
namespace {

using RowFn = std::function<void(int64_t i, double* out)>;

constexpr int64_t kCovBlock = 8;  // rows per rank-8 update of the covariance

// s[a][b] += sum_i x[i][a] x[i][b] for b >= a, over a block of kCovBlock rows x (zero-padded):
// each element of s is read and written once per block, not once per row. Inlined into a
// generic and an AVX2 copy, picked at run time; both sum in the same order.
__attribute__((always_inline)) inline void rank_block_update(const double* x, int64_t D,
                                                             double* __restrict s) {
  const double* x0 = x;
  const double *x1 = x0 + D, *x2 = x1 + D, *x3 = x2 + D, *x4 = x3 + D, *x5 = x4 + D,
               *x6 = x5 + D, *x7 = x6 + D;
  for (int64_t a = 0; a < D; ++a) {
    const double c0 = x0[a], c1 = x1[a], c2 = x2[a], c3 = x3[a], c4 = x4[a], c5 = x5[a],
                 c6 = x6[a], c7 = x7[a];
    double* __restrict sa = s + a * D;
    for (int64_t b = a; b < D; ++b)
      sa[b] += ((c0 * x0[b] + c1 * x1[b]) + (c2 * x2[b] + c3 * x3[b])) +
               ((c4 * x4[b] + c5 * x5[b]) + (c6 * x6[b] + c7 * x7[b]));
  }
}

void rank_block_generic(const double* x, int64_t D, double* s) { rank_block_update(x, D, s); }

__attribute__((target("avx2"))) void rank_block_avx2(const double* x, int64_t D, double* s) {
  rank_block_update(x, D, s);
}

// (1/n) sum_i r_i r_i^T of the rows r_i = row(i) (minus their mean unless assume_centered), as
// sklearn's EmpiricalCovariance computes it. One partial sum per thread, upper triangle, rows in
// blocks of kCovBlock.
std::vector<double> covariance(int64_t n, int64_t D, const RowFn& row, bool assume_centered) {
  std::vector<double> mean(static_cast<size_t>(D), 0.0), r(static_cast<size_t>(D));
  if (!assume_centered) {
    for (int64_t i = 0; i < n; ++i) {
      row(i, r.data());
      for (int64_t d = 0; d < D; ++d) mean[d] += r[d];
    }
    for (double& m : mean) m /= static_cast<double>(n);
  }
  const auto update = cpu_isa_supported(CpuIsa::kAvx2) ? rank_block_avx2 : rank_block_generic;
  const int parts = std::max(1, num_threads());
  std::vector<std::vector<double>> partial(static_cast<size_t>(parts));
  parallel_for(parts, [&](int64_t p0, int64_t p1) {
    std::vector<double> x(static_cast<size_t>(kCovBlock * D));
    for (int64_t p = p0; p < p1; ++p) {
      std::vector<double>& s = partial[static_cast<size_t>(p)];
      s.assign(static_cast<size_t>(D * D), 0.0);
      const int64_t end = n * (p + 1) / parts;
      for (int64_t i0 = n * p / parts; i0 < end; i0 += kCovBlock) {
        std::fill(x.begin(), x.end(), 0.0);
        for (int64_t j = 0; j < kCovBlock && i0 + j < end; ++j) {
          double* xj = x.data() + j * D;
          row(i0 + j, xj);
          for (int64_t d = 0; d < D; ++d) xj[d] -= mean[d];
        }
        update(x.data(), D, s.data());
      }
    }
  });
  std::vector<double> cov(static_cast<size_t>(D * D), 0.0);
  for (const auto& s : partial)
    for (int64_t a = 0; a < D; ++a)
      for (int64_t b = a; b < D; ++b) cov[a * D + b] += s[a * D + b];
  for (int64_t a = 0; a < D; ++a)
    for (int64_t b = a; b < D; ++b) cov[b * D + a] = cov[a * D + b] /= static_cast<double>(n);
  return cov;
}

// out[j] = m[j] . x for the rows of m [rows][cols]; four rows at a time, so four independent
// accumulation chains run together (each still summed in column order).
void matvec(const double* m, int64_t rows, int64_t cols, const double* x, double* out) {
  int64_t j = 0;
  for (; j + 4 <= rows; j += 4) {
    const double *m0 = m + j * cols, *m1 = m0 + cols, *m2 = m1 + cols, *m3 = m2 + cols;
    double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (int64_t d = 0; d < cols; ++d) {
      a0 += m0[d] * x[d];
      a1 += m1[d] * x[d];
      a2 += m2[d] * x[d];
      a3 += m3[d] * x[d];
    }
    out[j] = a0, out[j + 1] = a1, out[j + 2] = a2, out[j + 3] = a3;
  }
  for (; j < rows; ++j) {
    double a = 0;
    for (int64_t d = 0; d < cols; ++d) a += m[j * cols + d] * x[d];
    out[j] = a;
  }
}

// The whitening of pinvh(cov): rows sqrt(1/lambda_j) v_j of the kept eigenpairs, so that
// x^T pinvh(cov) x = |W x|^2.
struct Whitening {
  int64_t rank = 0, dim = 0;
  std::vector<double> w;  // [rank][dim]

  void apply(const double* x, double* z) const { matvec(w.data(), rank, dim, x, z); }
};

Whitening whitening_of(const std::vector<double>& cov, int64_t D) {
  const SymEigen e = sym_eigen(cov, D);
  double max_abs = 0;
  for (double l : e.values) max_abs = std::max(max_abs, std::fabs(l));
  Whitening wh;
  wh.dim = D;
  for (int64_t j = 0; j < D; ++j) {
    if (!pinvh_keeps(e.values[j], max_abs, D)) continue;
    const double f = 1.0 / std::sqrt(e.values[j]);  // a covariance: kept values are positive
    for (int64_t d = 0; d < D; ++d) wh.w.push_back(f * e.vectors[j * D + d]);
    ++wh.rank;
  }
  return wh;
}

double squared_distance(const double* a, const double* b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
  return s;
}

// Class means of the labelled training features, in double.
std::vector<double> class_means(const CachedFeatures& t, int64_t classes, const char* method) {
  const int64_t D = t.dim;
  std::vector<double> mu(static_cast<size_t>(classes * D), 0.0);
  std::vector<int64_t> count(static_cast<size_t>(classes), 0);
  for (int64_t i = 0; i < t.count; ++i) {
    const int64_t y = t.labels[i];
    if (y < 0 || y >= classes)
      throw_error(echo(t.name), ": method '", method, "' needs class labels in [0, ", classes,
                  "), sample ", i, " has ", y, "; --train must be a labelled set");
    ++count[y];
    for (int64_t d = 0; d < D; ++d) mu[y * D + d] += t.features[i * D + d];
  }
  for (int64_t c = 0; c < classes; ++c) {
    if (count[c] == 0)
      throw_error(echo(t.name), ": method '", method, "' needs training samples of every class; class ",
                  c, " has none");
    for (int64_t d = 0; d < D; ++d) mu[c * D + d] /= static_cast<double>(count[c]);
  }
  return mu;
}

class GaussianMethod : public OodMethod {
 public:
  explicit GaussianMethod(const MethodSpec& spec) : name_(spec.name) {
    if (spec.has("dim")) vim_dim_ = static_cast<int64_t>(spec.get("dim"));
  }

  void fit(const FitInputs& in) override {
    fc_ = in.fc;
    const CachedFeatures& t = require_train(in, name_.c_str());
    D_ = t.dim;
    if (name_ == "vim") return fit_vim(t);
    const int64_t C = fc_->classes;
    const std::vector<double> mu = class_means(t, C, name_.c_str());
    const RowFn centred = [&](int64_t i, double* out) {
      const int64_t y = t.labels[i];
      for (int64_t d = 0; d < D_; ++d) out[d] = t.features[i * D_ + d] - mu[y * D_ + d];
    };
    const bool rmds = name_ == "rmds";
    class_ = whitening_of(covariance(t.count, D_, centred, /*assume_centered=*/!rmds), D_);
    z_means_.resize(static_cast<size_t>(C * class_.rank));
    for (int64_t c = 0; c < C; ++c) class_.apply(mu.data() + c * D_, z_means_.data() + c * class_.rank);
    if (rmds) {
      whole_mean_ = feature_mean(t);
      const RowFn around = [&](int64_t i, double* out) {
        for (int64_t d = 0; d < D_; ++d) out[d] = t.features[i * D_ + d] - whole_mean_[d];
      };
      whole_ = whitening_of(covariance(t.count, D_, around, false), D_);
    }
  }

  std::vector<double> score(const CachedFeatures& x) const override {
    std::vector<double> out(static_cast<size_t>(x.count));
    std::vector<double> energy;
    if (name_ == "vim") energy = energy_scores(x.logits, fc_->classes);
    parallel_for(x.count, [&](int64_t begin, int64_t end) {
      std::vector<double> h(static_cast<size_t>(D_)), z(static_cast<size_t>(D_));
      for (int64_t i = begin; i < end; ++i) {
        for (int64_t d = 0; d < D_; ++d) h[d] = x.features[i * D_ + d];
        if (name_ == "vim") {
          out[i] = energy[i] - alpha_ * residual(h.data());
          continue;
        }
        class_.apply(h.data(), z.data());
        double best = INFINITY;
        for (int64_t c = 0; c < fc_->classes; ++c)
          best = std::min(best, squared_distance(z.data(), z_means_.data() + c * class_.rank,
                                                 class_.rank));
        if (name_ == "mahalanobis") {
          out[i] = -best;
        } else {
          for (int64_t d = 0; d < D_; ++d) h[d] -= whole_mean_[d];
          whole_.apply(h.data(), z.data());
          double bg = 0;
          for (int64_t j = 0; j < whole_.rank; ++j) bg += z[j] * z[j];
          out[i] = bg - best;
        }
      }
    }, 16);
    return out;
  }

 private:
  // |NS^T (x - u)|: the norm of x - u outside the principal subspace. x is overwritten.
  double residual(double* x) const {
    const int64_t r = D_ - vim_dim_;
    for (int64_t d = 0; d < D_; ++d) x[d] -= u_[d];
    std::vector<double> t(static_cast<size_t>(r));
    matvec(null_space_.data(), r, D_, x, t.data());
    double s = 0;
    for (double v : t) s += v * v;
    return std::sqrt(s);
  }

  void fit_vim(const CachedFeatures& t) {
    const int64_t C = fc_->classes, D = D_;
    // u = -pinv(W) b
    const bool wide = C <= D;
    const int64_t g = wide ? C : D;  // the Gram matrix: W W^T (C x C) or W^T W (D x D)
    std::vector<double> gram(static_cast<size_t>(g * g), 0.0);
    const auto W = [&](int64_t c, int64_t d) { return static_cast<double>(fc_->weight[c * D + d]); };
    for (int64_t a = 0; a < g; ++a)
      for (int64_t b = 0; b < g; ++b) {
        double s = 0;
        if (wide)
          for (int64_t d = 0; d < D; ++d) s += W(a, d) * W(b, d);
        else
          for (int64_t c = 0; c < C; ++c) s += W(c, a) * W(c, b);
        gram[a * g + b] = s;
      }
    const SymEigen e = sym_eigen(gram, g);
    double max_abs = 0;
    for (double l : e.values) max_abs = std::max(max_abs, std::fabs(l));
    // y = gram^+ r for r = b (wide) or r = W^T b; then u = -W^T y (wide) or u = -y.
    std::vector<double> r(static_cast<size_t>(g), 0.0), y(static_cast<size_t>(g), 0.0);
    for (int64_t a = 0; a < g; ++a) {
      if (wide) r[a] = fc_->bias[a];
      else
        for (int64_t c = 0; c < C; ++c) r[a] += W(c, a) * fc_->bias[c];
    }
    for (int64_t j = 0; j < g; ++j) {
      if (!pinvh_keeps(e.values[j], max_abs, g)) continue;
      const double* v = e.vectors.data() + j * g;
      double t = 0;
      for (int64_t a = 0; a < g; ++a) t += v[a] * r[a];
      t /= e.values[j];
      for (int64_t a = 0; a < g; ++a) y[a] += t * v[a];
    }
    u_.assign(static_cast<size_t>(D), 0.0);
    for (int64_t d = 0; d < D; ++d) {
      if (wide)
        for (int64_t c = 0; c < C; ++c) u_[d] -= W(c, d) * y[c];
      else
        u_[d] = -y[d];
    }
    const RowFn shifted = [&](int64_t i, double* out) {
      for (int64_t d = 0; d < D; ++d) out[d] = t.features[i * D + d] - u_[d];
    };
    const SymEigen pc = sym_eigen(covariance(t.count, D, shifted, true), D);
    // Ascending values: the first D - dim eigenvectors span the complement of the top `dim`.
    null_space_.assign(pc.vectors.begin(), pc.vectors.begin() + (D - vim_dim_) * D);
    std::vector<double> res(static_cast<size_t>(t.count));
    parallel_for(t.count, [&](int64_t begin, int64_t end) {
      std::vector<double> h(static_cast<size_t>(D));
      for (int64_t i = begin; i < end; ++i) {
        for (int64_t d = 0; d < D; ++d) h[d] = t.features[i * D + d];
        res[i] = residual(h.data());
      }
    }, 16);
    double sum_max = 0, sum_res = 0;  // summed in sample order, whatever the thread count
    for (int64_t i = 0; i < t.count; ++i) {
      const float* l = t.logits.data() + i * C;
      sum_max += *std::max_element(l, l + C);
      sum_res += res[i];
    }
    alpha_ = sum_max / sum_res;  // the ratio of the two means
  }

  std::string name_;
  const FcLayer* fc_ = nullptr;
  int64_t D_ = 0, vim_dim_ = 0;
  Whitening class_, whole_;
  std::vector<double> z_means_, whole_mean_;  // whitened class means; rmds: the train mean
  std::vector<double> u_, null_space_;        // vim: origin, [D - dim][D] residual basis
  double alpha_ = 0;
};

}  // namespace

std::unique_ptr<OodMethod> make_gaussian_method(const MethodSpec& spec) {
  if (spec.name == "mahalanobis" || spec.name == "rmds" || spec.name == "vim")
    return std::make_unique<GaussianMethod>(spec);
  return nullptr;
}

}  // namespace dice
