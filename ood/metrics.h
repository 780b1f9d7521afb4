// OOD detection metrics exactly as the DICE reference computes them (util/metrics.py: get_curve
// and cal_metric; DICE.md, "Metrics"). ID samples are the positives and scores are "higher = ID".
//   fpr95     fraction of OOD scores > K[round(0.05 n_k)] (sorted ID scores, round half to even)
//   auroc     -trapz(1 - fpr, tpr) over the tie-collapsed sweep; equals sklearn's roc_auc_score
//   aupr_in   the reference's AUIN: precision of ID with endpoints (1, 0.5) and (0, 0)
//   aupr_out  the reference's AUOUT: the same with OOD as positives, endpoints (0, 0) and (1, 0.5)
//   dterr     minimum detection error over the sweep
//   fpr95_openood  OpenOOD v1.5's FPR@95 (evaluators/metrics.py): OOD is the positive class,
//             sklearn's roc_curve(ood, -score) (drop_intermediate=True), the FPR (fraction of ID
//             scored as OOD) at the first point whose TPR (fraction of OOD caught) is >= 0.95
// All six are fractions in [0, 1]; fpr95 and fpr95_openood are different numbers by design.
#pragma once
#include <vector>

namespace dice {

struct OodMetrics {
  double fpr95 = 0, auroc = 0, aupr_in = 0, aupr_out = 0, dterr = 0;
  double fpr95_openood = 0;
};

// Scores are compared as doubles, so float32 scores should be widened, not rounded through text
// (widening keeps their order and ties, which is all the metrics look at). Throws dice::Error if
// either set is empty or a score is NaN.
OodMetrics compute_metrics(const std::vector<double>& id_scores,
                           const std::vector<double>& ood_scores);

// The plain mean over OOD sets, summed in order as the reference's compute_average_results does.
// Throws dice::Error for an empty list.
OodMetrics average_metrics(const std::vector<OodMetrics>& all);

// OpenOOD v1.5's FPR@95 alone (the fpr95_openood of compute_metrics).
double fpr95_openood(const std::vector<double>& id_scores, const std::vector<double>& ood_scores);

}  // namespace dice
