// Symmetric eigendecomposition (linalg.h). Two classic steps, written for row-major storage:
//   1. Householder: for k = 0 .. n-3 the reflector H = I - 2 v v^T that zeroes column k below
//      the subdiagonal is applied as A <- A - 2 (v w^T + w v^T), w = A v - (v^T A v) v, and
//      accumulated into Q (A = Q T Q^T, T tridiagonal);
//   2. implicit QL on T (the tqli scheme: deflate where |e_m| <= eps (|d_m| + |d_m+1|), shift by
//      the eigenvalue of the leading 2x2 block closer to d_l, chase the bulge with Givens
//      rotations), each rotation applied to two rows of Z = Q^T, so both touch contiguous memory.
#include "ood/linalg.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace dice {

SymEigen sym_eigen(const std::vector<double>& a_in, int64_t n) {
  DICE_ASSERT(n >= 1 && static_cast<int64_t>(a_in.size()) == n * n);
  std::vector<double> a = a_in;
  std::vector<double> q(static_cast<size_t>(n * n), 0.0);  // Q, row-major
  for (int64_t i = 0; i < n; ++i) q[i * n + i] = 1.0;
  std::vector<double> v(static_cast<size_t>(n)), w(static_cast<size_t>(n));
  for (int64_t k = 0; k + 2 < n; ++k) {
    const int64_t m = n - k - 1, o = k + 1;  // the trailing block starts at row/column o
    double norm2 = 0;
    for (int64_t i = 0; i < m; ++i) norm2 += a[(o + i) * n + k] * a[(o + i) * n + k];
    if (norm2 == 0) continue;
    const double x0 = a[o * n + k];
    const double alpha = x0 > 0 ? -std::sqrt(norm2) : std::sqrt(norm2);
    double vn2 = 0;
    for (int64_t i = 0; i < m; ++i) {
      v[i] = a[(o + i) * n + k] - (i == 0 ? alpha : 0.0);
      vn2 += v[i] * v[i];
    }
    if (vn2 == 0) continue;
    const double inv = 1.0 / std::sqrt(vn2);
    for (int64_t i = 0; i < m; ++i) v[i] *= inv;
    double K = 0;
    for (int64_t i = 0; i < m; ++i) {
      double s = 0;
      const double* row = a.data() + (o + i) * n + o;
      for (int64_t j = 0; j < m; ++j) s += row[j] * v[j];
      w[i] = s;
      K += v[i] * s;
    }
    for (int64_t i = 0; i < m; ++i) w[i] -= K * v[i];
    for (int64_t i = 0; i < m; ++i) {
      double* row = a.data() + (o + i) * n + o;
      const double vi = 2 * v[i], wi = 2 * w[i];
      for (int64_t j = 0; j < m; ++j) row[j] -= vi * w[j] + wi * v[j];
    }
    for (int64_t i = 0; i < m; ++i) a[(o + i) * n + k] = a[k * n + o + i] = i == 0 ? alpha : 0.0;
    for (int64_t r = 0; r < n; ++r) {
      double* row = q.data() + r * n + o;
      double t = 0;
      for (int64_t j = 0; j < m; ++j) t += row[j] * v[j];
      t *= 2;
      for (int64_t j = 0; j < m; ++j) row[j] -= t * v[j];
    }
  }
  std::vector<double> d(static_cast<size_t>(n)), e(static_cast<size_t>(n), 0.0);
  for (int64_t i = 0; i < n; ++i) d[i] = a[i * n + i];
  for (int64_t i = 0; i + 1 < n; ++i) e[i] = a[(i + 1) * n + i];
  std::vector<double> z(static_cast<size_t>(n * n));  // Z = Q^T: row i is column i of Q
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < n; ++c) z[c * n + r] = q[r * n + c];

  for (int64_t l = 0; l < n; ++l) {
    int iter = 0;
    int64_t m;
    do {
      for (m = l; m + 1 < n; ++m)
        if (std::fabs(e[m]) <= DBL_EPSILON * (std::fabs(d[m]) + std::fabs(d[m + 1]))) break;
      if (m == l) break;
      if (++iter > 100 || !std::isfinite(e[l]))
        throw_error("eigendecomposition did not converge (non-finite covariance?); check the "
                    "training features for NaN or infinity");
      double g = (d[l + 1] - d[l]) / (2.0 * e[l]);
      double r = std::hypot(g, 1.0);
      g = d[m] - d[l] + e[l] / (g + std::copysign(r, g));
      double s = 1, c = 1, p = 0;
      int64_t i = m - 1;
      bool underflow = false;
      for (; i >= l; --i) {
        const double f = s * e[i], b = c * e[i];
        r = std::hypot(f, g);
        e[i + 1] = r;
        if (r == 0) {  // recover from underflow: this split is done
          d[i + 1] -= p;
          e[m] = 0;
          underflow = true;
          break;
        }
        s = f / r;
        c = g / r;
        g = d[i + 1] - p;
        r = (d[i] - g) * s + 2.0 * c * b;
        p = s * r;
        d[i + 1] = g + p;
        g = c * r - b;
        double* zi = z.data() + i * n;
        double* zj = z.data() + (i + 1) * n;
        for (int64_t k = 0; k < n; ++k) {
          const double t = zj[k];
          zj[k] = s * zi[k] + c * t;
          zi[k] = c * zi[k] - s * t;
        }
      }
      if (underflow) continue;
      d[l] -= p;
      e[l] = g;
      e[m] = 0;
    } while (true);
  }
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return d[x] < d[y]; });
  SymEigen out;
  out.values.resize(static_cast<size_t>(n));
  out.vectors.resize(static_cast<size_t>(n * n));
  for (int64_t j = 0; j < n; ++j) {
    out.values[j] = d[order[j]];
    std::copy_n(z.begin() + order[j] * n, n, out.vectors.begin() + j * n);
  }
  return out;
}

bool pinvh_keeps(double lambda, double max_abs, int64_t n) {
  return std::fabs(lambda) > static_cast<double>(n) * DBL_EPSILON * max_abs;
}

}  // namespace dice
