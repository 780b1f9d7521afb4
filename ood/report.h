// The results of an evaluation, printed as the reference prints them and written as JSON.
// The table is util/metrics.py's print_all_results (one row per OOD set, then AVG; FPR95, AUROC
// and AUIN in percent with two decimals) under a line naming the method and the ID set, followed
// by the ID accuracy. The JSON holds the same numbers as fractions in [0, 1], all five metrics,
// at full precision (%.17g), for scripts that compare runs.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "ood/metrics.h"

namespace dice {

struct OodSetResult {
  std::string name;
  int64_t count = 0;
  OodMetrics metrics;
};

struct EvalReport {
  std::string method;  // e.g. "Energy" or "DICE (p=90)"
  std::string id_name;
  int64_t id_count = 0;
  double id_accuracy = 0;  // fraction; < 0 when the ID set has no labels
  std::vector<OodSetResult> ood;
  OodMetrics average;  // ignored (no AVG row, null in JSON) when ood is empty
};

// Example (the columns of the reference; names wider than 12 characters widen the name column):
//    OOD detection method: DICE (p=90)
//    in-distribution: CIFAR-10 (10000 samples)
//                FPR    AUROC  AUIN
//   SVHN          25.99  95.90  99.08
//   AVG           20.83  95.24  98.89
//   ID accuracy: 94.50%
void print_report(std::FILE* out, const EvalReport& report);

// The report as JSON text:
//   {"method": ..., "id": {"name": ..., "count": N, "accuracy": F or null},
//    "ood": [{"name": ..., "count": N, "fpr95": F, "auroc": F, "aupr_in": F, "aupr_out": F,
//             "dterr": F}, ...],
//    "average": {"fpr95": F, "auroc": F, "aupr_in": F, "aupr_out": F, "dterr": F} or null}
// accuracy is null when the ID set has no labels; a non-finite number is written as null.
std::string report_json(const EvalReport& report);

// Writes atomically (AtomicFile): one report -> that object at the top level; zero or several ->
// {"runs": [object, ...]} (one object per method, in the order given).
void write_reports_json(const std::string& path, const std::vector<EvalReport>& reports);

}  // namespace dice
