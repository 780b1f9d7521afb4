// `dice eval --method SPEC`: the post-hoc methods of `dice score` (ood/method.h) applied to the
// features `dice eval` has just extracted, so one command still goes from images to the table.
// The specs, --train PREFIX and --feat-stat are checked when the model is loaded, before any
// image is decoded; run() prints the same table and writes the same JSON as `dice score`.
#pragma once
#include <string>
#include <vector>

#include "cli/args.h"
#include "nn/model.h"
#include "ood/evaluate.h"
#include "ood/method.h"

namespace dice::cli {

// Whether eval's --method values ask for the post-hoc path: anything but one classic
// "energy" / "msp" (which keeps eval's original tables).
bool eval_wants_methods(const Args& args);

class EvalMethods {
 public:
  // cuda: eval's --device is cuda, so KNN/NNGuide search on the GPU too.
  EvalMethods(const Args& args, const Model& model, bool cuda);
  int run(const FeatureSet& id, const std::vector<FeatureSet>& oods, const std::string& json) const;

 private:
  FcLayer fc_;
  std::vector<MethodSpec> specs_;
  std::vector<double> feat_stat_;
  CachedFeatures train_;
  bool has_train_ = false, has_feat_stat_ = false, cuda_ = false;
};

}  // namespace dice::cli
