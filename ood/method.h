// Post-hoc OOD methods over cached features: the registry, SPEC parsing, and the interface every
// method implements (fit once on the training features, then score any set; higher = ID).
//
// A SPEC is `name` or `name:key=value[,key=value]`. The names, keys and defaults are a contract
// (docs/methods.md, issue 14); parse_method_spec fills in every default, so a spec's label() is
// the method in full ("knn:k=50", "gen:gamma=0.1,M=10"). Defaults that depend on the network
// (gen's M, vim's dim) are resolved against the fc layer's classes and feature dimension.
// Optional keys without a default (react's clip) appear in the label only when given.
//
// Scores are computed in double from float32 features; logits are the fc layer's, accumulated in
// double and rounded to float32 once (kernels/head.h), exactly what `dice features` writes.
#pragma once
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace dice {

// The classifier's last layer: weight [classes][dim], bias [classes].
struct FcLayer {
  int64_t classes = 0, dim = 0;
  std::vector<float> weight, bias;
};

// One data set as `dice features` writes it (PREFIX.features.npy, .labels.npy, .logits.npy): the
// logits are the plain fc layer's (fc_logits of the features, bit for bit).
struct CachedFeatures {
  std::string name;
  int64_t count = 0, dim = 0;
  std::vector<float> features;  // [count][dim]
  std::vector<int64_t> labels;  // [count], -1 where unlabeled
  std::vector<float> logits;    // [count][classes]
};

// What a method may fit on. train is null when no --train was given (only methods that do not
// need it are then made); feat_stat is DICE's mean (null: the train mean). The inputs must outlive
// the method (KNN and NNGuide keep a pointer to the training features).
struct FitInputs {
  const FcLayer* fc = nullptr;
  const CachedFeatures* train = nullptr;
  const std::vector<double>* feat_stat = nullptr;
  bool cuda = false;  // KNN/NNGuide compute their similarity tiles on the GPU (CUDA builds)
};

struct MethodSpec {
  std::string name;
  std::vector<std::pair<std::string, double>> params;  // every key with its value, registry order
  std::string label() const;                           // "name" or "name:k=v,k=v"
  bool has(const std::string& key) const;
  double get(const std::string& key) const;            // asserts the key is present
  void set(const std::string& key, double value);      // adds or replaces
};

class OodMethod {
 public:
  virtual ~OodMethod() = default;
  virtual void fit(const FitInputs& in) = 0;
  // One score per sample of x, higher = more in-distribution.
  virtual std::vector<double> score(const CachedFeatures& x) const = 0;
};

// Parses and validates a SPEC (unknown method or key, bad or out-of-range value: dice::Error
// naming the fix) and fills in the defaults for a network with `classes` outputs and `dim`-d
// features.
MethodSpec parse_method_spec(const std::string& text, int64_t classes, int64_t dim);
// "a,b,,c" -> {"a", "b", "", "c"} (the key=value items of a SPEC).
std::vector<std::string> split_commas(const std::string& text);
// Checks `value` for `key` of method `name` (the range a SPEC accepts); throws like the parser.
void check_method_param(const std::string& name, const std::string& key, double value);
// Whether fitting needs --train (react and dice_react do not when clip= is given).
bool method_needs_train(const MethodSpec& spec);
bool method_needs_labels(const std::string& name);
std::vector<std::string> method_names();  // in the order
std::unique_ptr<OodMethod> make_method(const MethodSpec& spec);

// --- helpers shared by the method families ----------------------------------------------------
// Logits of n feature rows through the fc layer (optionally DICE-masked, ReAct-clipped), float32.
std::vector<float> fc_logits(const FcLayer& fc, const float* features, int64_t n,
                             const uint8_t* mask = nullptr,
                             float clip = std::numeric_limits<float>::infinity());
// T * logsumexp(logits / T) per row, in double.
std::vector<double> energy_scores(const std::vector<float>& logits, int64_t classes, double T = 1);
// softmax of one row of logits / T, in double.
void softmax_row(const float* logits, int64_t classes, double T, double* out);
// The mean of the training features in double (the train mean DICE, fDBD use). Throws if empty.
std::vector<double> feature_mean(const CachedFeatures& train);
// The training set, or a dice::Error saying that `method` needs --train.
const CachedFeatures& require_train(const FitInputs& in, const char* method);

// Family factories (one file each); they return null for a name that is not theirs.
std::unique_ptr<OodMethod> make_logit_method(const MethodSpec& spec);     // methods_logit.cpp
std::unique_ptr<OodMethod> make_shaping_method(const MethodSpec& spec);   // methods_shaping.cpp
std::unique_ptr<OodMethod> make_neighbor_method(const MethodSpec& spec);  // methods_neighbor.cpp
std::unique_ptr<OodMethod> make_gaussian_method(const MethodSpec& spec);  // methods_gaussian.cpp

}  // namespace dice
