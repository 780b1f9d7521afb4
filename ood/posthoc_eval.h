// The runner behind `dice score`: read cached feature files, fit a method once, score the ID set
// and every OOD set, and compute the metrics; sweep one numeric parameter of a method over a grid
// (one fit and one scoring pass per point) and, with a validation OOD set, pick the point by its
// AUROC there, never by the test sets.
#pragma once
#include <string>
#include <vector>

#include "ood/method.h"
#include "ood/metrics.h"

namespace dice {

// Reads PREFIX.features.npy (N x D), PREFIX.labels.npy (N) and PREFIX.logits.npy (N x C); without
// a logits file the logits are computed from the features with `fc` (the same computation as
// `dice features`, which at ImageNet scale costs minutes: the file is preferred). Every mismatch
// (dimension, count, classes) is a dice::Error naming the file and the fix.
CachedFeatures load_cached_features(const std::string& prefix, const std::string& name,
                                    const FcLayer& fc);

struct SetMetrics {
  std::string name;
  int64_t count = 0;
  OodMetrics metrics;
};

struct MethodResult {
  std::string name;  // the spec in full ("knn:k=50")
  std::vector<SetMetrics> ood;
  OodMetrics average;
  double seconds = 0;  // fit + scoring
};

// Fits the method of `spec` and scores id and every set of oods (not empty).
MethodResult evaluate_method(const MethodSpec& spec, const FitInputs& fit, const CachedFeatures& id,
                             const std::vector<CachedFeatures>& oods);

// "name:key=START:STOP:STEP[,key=value...]": one key swept over START, START+STEP, ... <= STOP.
struct SweepSpec {
  std::string name, key, fixed;  // fixed: the other key=value items, comma-separated
  std::vector<double> values;
  MethodSpec at(double value, int64_t classes, int64_t dim) const;
};
SweepSpec parse_sweep_spec(const std::string& text, int64_t classes, int64_t dim);

struct SweepPoint {
  double value = 0;
  MethodResult result;      // the test OOD sets (left empty when a validation set is given)
  double val_auroc = -1;    // AUROC on the validation OOD set, when one is given
};

struct SweepResult {
  SweepSpec spec;
  std::vector<SweepPoint> points;
  int64_t selected = -1;  // with a validation set: the point of the best val AUROC (first on ties)
  double seconds = 0;
};

// Without `val`, every point is scored on the test sets; with it, only on `val`, and the selected
// point's test metrics are evaluate_method's at that point (the caller runs it).
SweepResult run_sweep(const SweepSpec& spec, const FitInputs& fit, const CachedFeatures& id,
                      const std::vector<CachedFeatures>& oods, const CachedFeatures* val);

// Fraction of labelled samples whose plain-fc argmax equals the label; -1 if none is labelled.
double plain_accuracy(const CachedFeatures& x, int64_t classes);

}  // namespace dice
