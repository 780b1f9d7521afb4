// The reference's metrics, ported so that they agree with numpy to the last bit (metrics.h).
// Two numpy details decide the last bits of the area metrics:
//   - np.trapz(y, x) is sum_i (x[i+1] - x[i]) * (y[i+1] + y[i]) / 2.0, evaluated in that order;
//   - its sum is np.add.reduce, which numpy does as pairwise summation (8-way unrolled, blocks of
//     at most 128 elements at the leaves) inside chunks of 8192 elements (the ufunc buffer), the
//     chunk sums being added one after the other to a 0.0 start. numpy_sum reproduces that.
// The sweep keeps tp/fp as integers like the reference and divides in double only at the end.
#include "ood/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/error.h"

namespace dice {
namespace {

// numpy's pairwise_sum (numpy/core/src/umath/loops_utils.h.src).
double pairwise_sum(const double* a, int64_t n) {
  if (n < 8) {
    double res = 0.0;
    for (int64_t i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= 128) {
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    int64_t i = 8;
    for (; i < n - (n % 8); i += 8)
      for (int j = 0; j < 8; ++j) r[j] += a[i + j];
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  int64_t n2 = n / 2;
  n2 -= n2 % 8;
  return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

// np.add.reduce over a contiguous float64 vector.
double numpy_sum(const std::vector<double>& a) {
  constexpr int64_t kBuffer = 8192;  // numpy's default ufunc buffer size (np.getbufsize())
  const int64_t n = static_cast<int64_t>(a.size());
  double acc = 0.0;
  for (int64_t s = 0; s < n; s += kBuffer)
    acc += pairwise_sum(a.data() + s, std::min(kBuffer, n - s));
  return acc;
}

// np.trapz(y, x) for 1-d arrays of equal length.
double numpy_trapz(const std::vector<double>& y, const std::vector<double>& x) {
  DICE_ASSERT(x.size() == y.size() && !x.empty());
  std::vector<double> terms(x.size() - 1);
  for (size_t i = 0; i + 1 < x.size(); ++i) terms[i] = (x[i + 1] - x[i]) * (y[i + 1] + y[i]) / 2.0;
  return numpy_sum(terms);
}

// Python's round() of a non-negative double to an integer: half to even.
int64_t round_half_even(double x) {
  const double f = std::floor(x);
  const double frac = x - f;
  int64_t r = static_cast<int64_t>(f);
  if (frac > 0.5 || (frac == 0.5 && (r % 2) != 0)) ++r;
  return r;
}

std::vector<double> sorted_scores(const std::vector<double>& s, const char* which) {
  if (s.empty()) throw_error("OOD metrics: the ", which, " score set is empty");
  for (size_t i = 0; i < s.size(); ++i)
    if (std::isnan(s[i]))
      throw_error("OOD metrics: ", which, " score ", i,
                  " is NaN (the network produced non-finite logits for that sample)");
  std::vector<double> out = s;
  std::sort(out.begin(), out.end());
  return out;
}

// sklearn's roc_curve(y = is_ood, score = -conf) on sorted ID (known) and OOD (novel) scores:
// one point per distinct score, ascending conf, counting the samples at or below it (tps: OOD,
// fps: ID); drop_intermediate keeps the ends and every point where either count's second
// difference is non-zero; then (0, 0) is prepended and the FPR at the first TPR >= 0.95 returned.
double openood_fpr(const std::vector<double>& known, const std::vector<double>& novel) {
  const int64_t nk = static_cast<int64_t>(known.size()), nn = static_cast<int64_t>(novel.size());
  std::vector<int64_t> tps, fps;
  int64_t k = 0, n = 0;
  while (k < nk || n < nn) {
    const double v = k == nk ? novel[n] : n == nn ? known[k] : std::min(known[k], novel[n]);
    while (k < nk && known[k] == v) ++k;
    while (n < nn && novel[n] == v) ++n;
    tps.push_back(n);
    fps.push_back(k);
  }
  const size_t g = tps.size();
  std::vector<int64_t> kt{0}, kf{0};
  for (size_t i = 0; i < g; ++i) {
    const bool keep = g <= 2 || i == 0 || i + 1 == g ||
                      fps[i + 1] - 2 * fps[i] + fps[i - 1] != 0 ||
                      tps[i + 1] - 2 * tps[i] + tps[i - 1] != 0;
    if (keep) kt.push_back(tps[i]), kf.push_back(fps[i]);
  }
  for (size_t i = 0; i < kt.size(); ++i)
    if (static_cast<double>(kt[i]) / static_cast<double>(nn) >= 0.95)
      return static_cast<double>(kf[i]) / static_cast<double>(nk);
  return 1.0;  // unreachable: the last point has TPR 1
}

}  // namespace

OodMetrics compute_metrics(const std::vector<double>& id_scores,
                           const std::vector<double>& ood_scores) {
  const std::vector<double> known = sorted_scores(id_scores, "in-distribution");
  const std::vector<double> novel = sorted_scores(ood_scores, "OOD");
  const int64_t nk = static_cast<int64_t>(known.size());
  const int64_t nn = static_cast<int64_t>(novel.size());
  const int64_t total = nk + nn;
  std::vector<double> all(static_cast<size_t>(total));
  std::merge(known.begin(), known.end(), novel.begin(), novel.end(), all.begin());

  OodMetrics m;
  // round(0.05 * nk) <= nk - 1 for every nk >= 1.
  const double threshold =
      known[static_cast<size_t>(round_half_even(0.05 * static_cast<double>(nk)))];
  int64_t above = 0;
  for (double v : novel) above += v > threshold;
  m.fpr95 = static_cast<double>(above) / static_cast<double>(nn);

  // The sweep: step l+1 removes the lowest remaining sample; on a tie the ID sample goes first.
  std::vector<int64_t> tp(static_cast<size_t>(total + 1)), fp(static_cast<size_t>(total + 1));
  tp[0] = nk;
  fp[0] = nn;
  int64_t k = 0, n = 0;
  for (int64_t l = 0; l < total; ++l) {
    if (k == nk || (n < nn && novel[n] < known[k])) {
      ++n;
      tp[l + 1] = tp[l];
      fp[l + 1] = fp[l] - 1;
    } else {
      ++k;
      tp[l + 1] = tp[l] - 1;
      fp[l + 1] = fp[l];
    }
  }
  // Collapse ties: a run of equal scores becomes one point of the curve.
  for (int64_t j = total - 1; j >= 1; --j)
    if (all[j] == all[j - 1]) {
      tp[j] = tp[j + 1];
      fp[j] = fp[j + 1];
    }

  const double tp0 = static_cast<double>(nk), fp0 = static_cast<double>(nn);
  const size_t npts = static_cast<size_t>(total + 3);
  std::vector<double> tpr(npts), fpr(npts), y(npts);
  tpr[0] = fpr[0] = 1.0;
  tpr[npts - 1] = fpr[npts - 1] = 0.0;
  for (int64_t i = 0; i <= total; ++i) {
    tpr[i + 1] = static_cast<double>(tp[i]) / tp0;
    fpr[i + 1] = static_cast<double>(fp[i]) / fp0;
  }
  for (size_t i = 0; i < npts; ++i) y[i] = 1.0 - fpr[i];
  m.auroc = -numpy_trapz(y, tpr);

  m.dterr = INFINITY;
  for (int64_t i = 0; i <= total; ++i)
    m.dterr =
        std::min(m.dterr, static_cast<double>(nk - tp[i] + fp[i]) / static_cast<double>(nk + nn));

  // AUPR-In: precision of ID over the points where something is still above the cut.
  std::vector<double> px{0.5}, xs{1.0};
  for (int64_t i = 0; i <= total; ++i) {
    const int64_t denom = tp[i] + fp[i];
    if (denom > 0) {
      px.push_back(static_cast<double>(tp[i]) / static_cast<double>(denom));
      xs.push_back(tpr[i + 1]);
    }
  }
  px.push_back(0.0);
  xs.push_back(0.0);
  m.aupr_in = -numpy_trapz(px, xs);

  // AUPR-Out: precision of OOD over the points where something is already below the cut.
  px.assign(1, 0.0);
  xs.assign(1, 1.0 - fpr[0]);
  for (int64_t i = 0; i <= total; ++i) {
    const int64_t denom = nk - tp[i] + nn - fp[i];
    if (denom > 0) {
      px.push_back(static_cast<double>(nn - fp[i]) / static_cast<double>(denom));
      xs.push_back(1.0 - fpr[i + 1]);
    }
  }
  px.push_back(0.5);
  xs.push_back(1.0 - fpr[npts - 1]);
  m.aupr_out = numpy_trapz(px, xs);
  m.fpr95_openood = openood_fpr(known, novel);
  return m;
}

double fpr95_openood(const std::vector<double>& id_scores, const std::vector<double>& ood_scores) {
  return openood_fpr(sorted_scores(id_scores, "in-distribution"), sorted_scores(ood_scores, "OOD"));
}

OodMetrics average_metrics(const std::vector<OodMetrics>& all) {
  if (all.empty()) throw_error("OOD metrics: no OOD sets to average");
  OodMetrics avg;  // starts at 0.0 and adds in order, like compute_average_results
  for (const OodMetrics& m : all) {
    avg.fpr95 += m.fpr95;
    avg.auroc += m.auroc;
    avg.aupr_in += m.aupr_in;
    avg.aupr_out += m.aupr_out;
    avg.dterr += m.dterr;
    avg.fpr95_openood += m.fpr95_openood;
  }
  const double n = static_cast<double>(all.size());
  avg.fpr95 /= n;
  avg.auroc /= n;
  avg.aupr_in /= n;
  avg.aupr_out /= n;
  avg.dterr /= n;
  avg.fpr95_openood /= n;
  return avg;
}

}  // namespace dice
