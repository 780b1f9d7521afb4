// Cached-feature loading, method evaluation and parameter sweeps (posthoc_eval.h).
#include "ood/posthoc_eval.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/error.h"
#include "core/echo.h"
#include "core/file_io.h"
#include "core/file_set.h"
#include "formats/npy.h"

namespace dice {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

}  // namespace

CachedFeatures load_cached_features(const std::string& prefix, const std::string& name,
                                    const FcLayer& fc) {
  const std::string fpath = prefix + ".features.npy", lpath = prefix + ".labels.npy";
  const std::string gpath = prefix + ".logits.npy";
  if (!file_exists(fpath))
    throw_error(echo(fpath), ": no such file; PREFIX must be what `dice features --out PREFIX` wrote");
  // Members of the set `dice features` published (core/file_set.h): never mixed across runs.
  const auto member = [&](const std::string& path) {
    const std::vector<uint8_t> bytes = read_set_member(prefix, path);
    return parse_npy(bytes.data(), bytes.size(), path);
  };
  NpyArray f = member(fpath);
  if (f.shape.size() != 2 || f.shape[0] < 1)
    throw_error(echo(fpath), ": features must be a non-empty N x D array, got ", shape_text(f.shape),
                "; write them with `dice features`");
  CachedFeatures x;
  x.name = name;
  x.count = f.shape[0];
  x.dim = f.shape[1];
  if (x.dim != fc.dim)
    throw_error(echo(fpath), ": ", x.dim, "-d features, but the fc layer of --weights takes ", fc.dim,
                "; use features and weights of the same network");
  x.features = npy_to_float(f, fpath);
  for (size_t i = 0; i < x.features.size(); ++i)
    if (!std::isfinite(x.features[i]))
      throw_error(echo(fpath), ": non-finite feature at row ", static_cast<int64_t>(i) / x.dim,
                  "; re-extract the features");
  if (!file_exists(lpath))
    throw_error(echo(lpath), ": no such file; `dice features --out PREFIX` writes it beside ", echo(fpath));
  NpyArray l = member(lpath);
  if (l.shape.size() != 1 || l.shape[0] != x.count)
    throw_error(echo(lpath), ": ", shape_text(l.shape), " labels for ", x.count, " feature rows in ",
                echo(fpath), "; the files must come from the same `dice features` run");
  for (double v : npy_to_double(l, lpath)) x.labels.push_back(static_cast<int64_t>(v));
  if (file_exists(gpath)) {
    NpyArray g = member(gpath);
    if (g.shape.size() != 2 || g.shape[0] != x.count || g.shape[1] != fc.classes)
      throw_error(echo(gpath), ": logits of shape ", shape_text(g.shape), ", expected (", x.count, ", ",
                  fc.classes, ") for these features and --weights; the files must come from "
                  "one `dice features` run with the same network");
    x.logits = npy_to_float(g, gpath);
  } else {
    x.logits = fc_logits(fc, x.features.data(), x.count);
  }
  return x;
}

MethodResult evaluate_method(const MethodSpec& spec, const FitInputs& fit, const CachedFeatures& id,
                             const std::vector<CachedFeatures>& oods) {
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<OodMethod> m = make_method(spec);
  m->fit(fit);
  MethodResult r;
  r.name = spec.label();
  const std::vector<double> id_scores = m->score(id);
  std::vector<OodMetrics> all;
  for (const CachedFeatures& o : oods) {
    SetMetrics s;
    s.name = o.name;
    s.count = o.count;
    s.metrics = compute_metrics(id_scores, m->score(o));
    all.push_back(s.metrics);
    r.ood.push_back(s);
  }
  r.average = average_metrics(all);
  r.seconds = seconds_since(t0);
  return r;
}

MethodSpec SweepSpec::at(double value, int64_t classes, int64_t dim) const {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", value);
  return parse_method_spec(name + ":" + (fixed.empty() ? "" : fixed + ",") + key + "=" + buf,
                           classes, dim);
}

SweepSpec parse_sweep_spec(const std::string& text, int64_t classes, int64_t dim) {
  const char* form = "; write --sweep name:key=START:STOP:STEP[,key=value] (e.g. dice:p=10:99:1)";
  const size_t colon = text.find(':');
  if (colon == std::string::npos) throw_error("--sweep '", echo(text), "' names no parameter", form);
  SweepSpec s;
  s.name = text.substr(0, colon);
  const std::string rest = text.substr(colon + 1);
  std::string range;
  for (const std::string& item : split_commas(rest)) {
    const size_t eq = item.find('=');
    if (eq != std::string::npos && item.find(':', eq) != std::string::npos) {
      if (!s.key.empty()) throw_error("--sweep '", echo(text), "' sweeps two parameters", form);
      s.key = item.substr(0, eq);
      range = item.substr(eq + 1);
    } else {
      s.fixed += (s.fixed.empty() ? "" : ",") + item;
    }
  }
  if (s.key.empty()) throw_error("--sweep '", echo(text), "' has no START:STOP:STEP range", form);
  double v[3];
  size_t pos = 0;
  for (int i = 0; i < 3; ++i) {
    const size_t end = i < 2 ? range.find(':', pos) : range.size();
    if (end == std::string::npos) throw_error("--sweep '", echo(text), "': bad range '", echo(range), "'", form);
    const std::string part = range.substr(pos, end - pos);
    char* stop = nullptr;
    v[i] = std::strtod(part.c_str(), &stop);
    if (part.empty() || *stop || !std::isfinite(v[i]))
      throw_error("--sweep '", echo(text), "': '", echo(part), "' is not a number", form);
    pos = end + 1;
  }
  if (!(v[2] > 0) || v[1] < v[0])
    throw_error("--sweep '", echo(text), "': need START <= STOP and STEP > 0", form);
  const double n = std::floor((v[1] - v[0]) / v[2] * (1 + 1e-12)) + 1;
  if (n > 100000) throw_error("--sweep '", echo(text), "': ", n, " points; at most 100000");
  for (int64_t i = 0; i < static_cast<int64_t>(n); ++i) s.values.push_back(v[0] + i * v[2]);
  for (double x : s.values) s.at(x, classes, dim);  // every point must be a valid spec
  return s;
}

SweepResult run_sweep(const SweepSpec& spec, const FitInputs& fit, const CachedFeatures& id,
                      const std::vector<CachedFeatures>& oods, const CachedFeatures* val) {
  const auto t0 = std::chrono::steady_clock::now();
  SweepResult r;
  r.spec = spec;
  const int64_t classes = fit.fc->classes, dim = fit.fc->dim;
  for (double v : spec.values) {
    SweepPoint p;
    p.value = v;
    const MethodSpec ms = spec.at(v, classes, dim);
    if (val) {
      std::unique_ptr<OodMethod> m = make_method(ms);
      m->fit(fit);
      p.result.name = ms.label();
      p.val_auroc = compute_metrics(m->score(id), m->score(*val)).auroc;
      if (r.selected < 0 || p.val_auroc > r.points[r.selected].val_auroc)
        r.selected = static_cast<int64_t>(r.points.size());
    } else {
      p.result = evaluate_method(ms, fit, id, oods);
    }
    r.points.push_back(p);
  }
  r.seconds = seconds_since(t0);
  return r;
}

double plain_accuracy(const CachedFeatures& x, int64_t classes) {
  int64_t labelled = 0, correct = 0;
  for (int64_t i = 0; i < x.count; ++i) {
    if (x.labels[i] < 0) continue;
    const float* l = x.logits.data() + i * classes;
    int64_t best = 0;
    for (int64_t c = 1; c < classes; ++c)
      if (l[c] > l[best]) best = c;
    ++labelled;
    correct += best == x.labels[i];
  }
  return labelled ? static_cast<double>(correct) / static_cast<double>(labelled) : -1.0;
}

}  // namespace dice
