// The method registry and SPEC parsing (method.h), and the helpers the families share.
// The registry is one table: name, keys with defaults and ranges, whether the method fits on
// --train (and on its labels), and which family file makes it. Values print with %g, so a label
// reads back as the same spec.
#include "ood/method.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/echo.h"
#include "core/error.h"
#include "kernels/head.h"

namespace dice {
namespace {

enum class Auto { kNone, kGenM, kVimDim };

struct ParamDef {
  const char* key;
  double def;     // unused when optional or auto_def != kNone
  double min, max;
  bool integer = false;
  bool optional = false;  // no default: absent unless given
  Auto auto_def = Auto::kNone;
};

struct MethodDef {
  const char* name;
  std::vector<ParamDef> params;
  bool needs_train, needs_labels;
};

constexpr double kHuge = 1e30;

const std::vector<MethodDef>& registry() {
  static const std::vector<MethodDef> defs = {
      {"msp", {}, false, false},
      {"maxlogit", {}, false, false},
      {"energy", {{"T", 1, 1e-6, kHuge}}, false, false},
      {"dice", {{"p", 90, 0, 100}}, false, false},
      {"react", {{"percentile", 90, 0, 100}, {"clip", 0, -kHuge, kHuge, false, true}}, true, false},
      {"dice_react",
       {{"p", 90, 0, 100}, {"percentile", 90, 0, 100}, {"clip", 0, -kHuge, kHuge, false, true}},
       true,
       false},
      {"ash_p", {{"percentile", 90, 0, 100}}, false, false},
      {"ash_b", {{"percentile", 90, 0, 100}}, false, false},
      {"ash_s", {{"percentile", 90, 0, 100}}, false, false},
      {"scale", {{"percentile", 85, 0, 100}}, false, false},
      {"gen",
       {{"gamma", 0.1, 1e-6, kHuge}, {"M", 0, 1, 1e9, true, false, Auto::kGenM}},
       false,
       false},
      {"gradnorm", {{"T", 1, 1e-6, kHuge}}, false, false},
      {"knn", {{"k", 50, 1, 1e9, true}}, true, false},
      {"mahalanobis", {}, true, true},
      {"vim", {{"dim", 0, 1, 1e9, true, false, Auto::kVimDim}}, true, false},
      {"rmds", {}, true, true},
      {"fdbd", {}, true, false},
      {"nnguide", {{"k", 100, 1, 1e9, true}}, true, false},
  };
  return defs;
}

std::string known_names() {
  std::string s;
  for (const MethodDef& d : registry()) s += (s.empty() ? "" : ", ") + std::string(d.name);
  return s;
}

const MethodDef& find_def(const std::string& name) {
  for (const MethodDef& d : registry())
    if (name == d.name) return d;
  throw_error("unknown method '", echo(name), "' in --method; use one of: ", known_names());
}

const ParamDef& find_param(const MethodDef& d, const std::string& key) {
  for (const ParamDef& p : d.params)
    if (key == p.key) return p;
  std::string keys;
  for (const ParamDef& p : d.params) keys += (keys.empty() ? "" : ", ") + std::string(p.key);
  throw_error("method '", d.name, "' has no parameter '", echo(key), "'; ",
              keys.empty() ? std::string("it takes none") : "its parameters: " + keys);
}

void check_value(const MethodDef& d, const ParamDef& p, double v) {
  if (!(v >= p.min && v <= p.max) || (p.integer && v != std::floor(v)))
    throw_error("method '", d.name, "': ", p.key, " must be ", p.integer ? "an integer" : "a number",
                " in [", p.min, ", ", p.max, "], got ", v);
}

std::string format_value(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    out.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

std::string MethodSpec::label() const {
  std::string s = name;
  for (size_t i = 0; i < params.size(); ++i)
    s += (i ? "," : ":") + params[i].first + "=" + format_value(params[i].second);
  return s;
}

bool MethodSpec::has(const std::string& key) const {
  for (const auto& kv : params)
    if (kv.first == key) return true;
  return false;
}

double MethodSpec::get(const std::string& key) const {
  for (const auto& kv : params)
    if (kv.first == key) return kv.second;
  DICE_ASSERT(!"MethodSpec::get: absent key");
  return 0;
}

void MethodSpec::set(const std::string& key, double value) {
  for (auto& kv : params)
    if (kv.first == key) {
      kv.second = value;
      return;
    }
  // Keep registry order, so that a label does not depend on the order keys were set in.
  const MethodDef& d = find_def(name);
  std::vector<std::pair<std::string, double>> out;
  for (const ParamDef& p : d.params) {
    if (key == p.key) out.emplace_back(key, value);
    else if (has(p.key)) out.emplace_back(p.key, get(p.key));
  }
  params = std::move(out);
}

MethodSpec parse_method_spec(const std::string& text, int64_t classes, int64_t dim) {
  const size_t colon = text.find(':');
  MethodSpec spec;
  spec.name = text.substr(0, colon);
  const MethodDef& d = find_def(spec.name);
  std::vector<std::pair<std::string, double>> given;
  if (colon != std::string::npos) {
    std::string rest = text.substr(colon + 1);
    if (rest.empty())
      throw_error("method spec '", echo(text), "' ends with ':'; write name:key=value[,key=value]");
    for (const std::string& kv : split_commas(rest)) {
      const size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0)
        throw_error("method spec '", echo(text), "': '", echo(kv), "' is not key=value; write ", d.name,
                    ":key=value[,key=value]");
      const std::string key = kv.substr(0, eq), value = kv.substr(eq + 1);
      const ParamDef& p = find_param(d, key);
      char* end = nullptr;
      errno = 0;
      const double v = std::strtod(value.c_str(), &end);
      if (value.empty() || *end || errno)
        throw_error("method '", d.name, "': ", key, "='", echo(value), "' is not a number");
      check_value(d, p, v);
      for (const auto& g : given)
        if (g.first == key) throw_error("method spec '", echo(text), "' sets ", key, " twice");
      given.emplace_back(key, v);
    }
  }
  for (const ParamDef& p : d.params) {
    bool found = false;
    for (const auto& g : given)
      if (g.first == p.key) spec.params.push_back(g), found = true;
    if (found || p.optional) continue;
    double v = p.def;
    if (p.auto_def == Auto::kGenM) v = static_cast<double>(std::min<int64_t>(100, classes));
    if (p.auto_def == Auto::kVimDim)
      v = static_cast<double>(dim >= 2048 ? 1000 : dim >= 768 ? 512 : dim / 2);
    spec.params.emplace_back(p.key, v);
  }
  if (spec.name == "gen" && spec.get("M") > static_cast<double>(classes))
    throw_error("method 'gen': M must be at most the number of classes (", classes, "), got ",
                spec.get("M"));
  if (spec.name == "vim" && spec.get("dim") >= static_cast<double>(dim))
    throw_error("method 'vim': dim must be below the feature dimension (", dim, "), got ",
                spec.get("dim"));
  return spec;
}

void check_method_param(const std::string& name, const std::string& key, double value) {
  const MethodDef& d = find_def(name);
  check_value(d, find_param(d, key), value);
}

bool method_needs_train(const MethodSpec& spec) {
  return find_def(spec.name).needs_train && !spec.has("clip");
}
bool method_needs_labels(const std::string& name) { return find_def(name).needs_labels; }

std::vector<std::string> method_names() {
  std::vector<std::string> out;
  for (const MethodDef& d : registry()) out.push_back(d.name);
  return out;
}

std::unique_ptr<OodMethod> make_method(const MethodSpec& spec) {
  find_def(spec.name);
  for (auto make : {make_logit_method, make_shaping_method, make_neighbor_method,
                    make_gaussian_method})
    if (auto m = make(spec)) return m;
  DICE_ASSERT(!"a registered method has no factory");
  return nullptr;
}

std::vector<float> fc_logits(const FcLayer& fc, const float* features, int64_t n,
                             const uint8_t* mask, float clip) {
  std::vector<float> logits(static_cast<size_t>(n * fc.classes));
  if (n == 0) return logits;
  HeadParams p;
  p.batch = n, p.in_features = fc.dim, p.classes = fc.classes, p.clip = clip;
  HeadOutputs out;
  out.logits = logits.data();
  head_cpu(p, features, fc.weight.data(), fc.bias.data(), mask, out);
  return logits;
}

void softmax_row(const float* l, int64_t classes, double T, double* out) {
  double m = -INFINITY, sum = 0;
  for (int64_t c = 0; c < classes; ++c) m = std::max(m, static_cast<double>(l[c]) / T);
  for (int64_t c = 0; c < classes; ++c) sum += out[c] = std::exp(static_cast<double>(l[c]) / T - m);
  for (int64_t c = 0; c < classes; ++c) out[c] /= sum;
}

std::vector<double> energy_scores(const std::vector<float>& logits, int64_t classes, double T) {
  const int64_t n = static_cast<int64_t>(logits.size()) / classes;
  std::vector<double> s(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const float* l = logits.data() + i * classes;
    double m = -INFINITY, sum = 0;
    for (int64_t c = 0; c < classes; ++c) m = std::max(m, static_cast<double>(l[c]) / T);
    for (int64_t c = 0; c < classes; ++c) sum += std::exp(static_cast<double>(l[c]) / T - m);
    s[i] = T * (m + std::log(sum));
  }
  return s;
}

std::vector<double> feature_mean(const CachedFeatures& train) {
  if (train.count == 0) throw_error(echo(train.name), ": the training features are empty");
  std::vector<double> m(static_cast<size_t>(train.dim), 0.0);
  for (int64_t i = 0; i < train.count; ++i)
    for (int64_t d = 0; d < train.dim; ++d) m[d] += train.features[i * train.dim + d];
  for (double& v : m) v /= static_cast<double>(train.count);
  return m;
}

const CachedFeatures& require_train(const FitInputs& in, const char* method) {
  if (!in.train)
    throw_error("method '", method, "' fits on the training set: pass --train PREFIX (the files "
                "`dice features --out PREFIX` writes for the training data)");
  return *in.train;
}

}  // namespace dice
