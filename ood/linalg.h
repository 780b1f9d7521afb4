// The little dense linear algebra the Gaussian methods need, in double: a symmetric
// eigendecomposition (Householder reduction to tridiagonal form, then the implicit QL iteration
// with Wilkinson-style shifts, accumulating the rotations: O(n^3), about 0.2 s at n = 342), and
// the pseudo-inverse of a symmetric matrix built on it (scipy.linalg.pinvh's definition).
#pragma once
#include <cstdint>
#include <vector>

namespace dice {

struct SymEigen {
  std::vector<double> values;   // ascending
  std::vector<double> vectors;  // [n][n] row-major; row j is the unit eigenvector of values[j]
};

// a: symmetric [n][n] row-major (only read). Throws dice::Error if the iteration does not
// converge (a NaN in the input).
SymEigen sym_eigen(const std::vector<double>& a, int64_t n);

// The eigenvalues kept by pinvh: |lambda| > n * DBL_EPSILON * max |lambda| (scipy's default
// rtol); the others are treated as zero.
bool pinvh_keeps(double lambda, double max_abs, int64_t n);

}  // namespace dice
