// Output of `dice score`: the method table, the sweep table, and the JSON file.
// The tables size their columns to the longest method and set name, so they stay aligned for any
// names, and name both FPR@95 conventions in the header: "FPR95(ID+)" is the DICE reference's
// (ID positive; OOD scored above the 95%-of-ID threshold), "FPR95(OOD+)" OpenOOD v1.5's (OOD
// positive; ID flagged when 95% of OOD is caught). Numbers are percent with two decimals.
#pragma once
#include <cstdio>
#include <string>
#include <vector>

#include "ood/posthoc_eval.h"

namespace dice {

struct IdSummary {
  std::string name;
  int64_t count = 0;
  double accuracy = -1;  // < 0: unlabelled (null in JSON)
};

void print_method_table(std::FILE* out, const IdSummary& id, const std::vector<MethodResult>& rows);
void print_sweep_table(std::FILE* out, const SweepResult& sweep, const std::string& val_name);

// {"id": {"name", "count", "accuracy"}, "methods": [{"name", "ood": [{"name", "fpr95",
//  "fpr95_openood", "auroc", "aupr_in", "aupr_out"}], "average": {...}}], and with a sweep
//  "sweep": {"method", "key", "points": [{"value", "name", "val_auroc" | "average"}],
//  "selected": name or null}}. Metrics are fractions.
std::string score_json(const IdSummary& id, const std::vector<MethodResult>& methods,
                       const SweepResult* sweep);

}  // namespace dice
