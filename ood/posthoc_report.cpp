// Tables and JSON of `dice score` (posthoc_report.h).
#include "ood/posthoc_report.h"

#include <algorithm>

#include "formats/json.h"

namespace dice {
namespace {

const char* kMetricHeads[] = {"FPR95(ID+)", "FPR95(OOD+)", "AUROC", "AUPR-In", "AUPR-Out"};

void metric_cells(std::FILE* out, const OodMetrics& m) {
  const double v[] = {m.fpr95, m.fpr95_openood, m.auroc, m.aupr_in, m.aupr_out};
  for (int i = 0; i < 5; ++i)
    std::fprintf(out, "  %*.2f", static_cast<int>(std::string(kMetricHeads[i]).size()), 100 * v[i]);
}

void metric_heads(std::FILE* out) {
  for (const char* h : kMetricHeads) std::fprintf(out, "  %s", h);
}

void legend(std::FILE* out) {
  std::fprintf(out,
               "FPR95(ID+): the DICE reference's FPR@95 (ID positive); FPR95(OOD+): OpenOOD "
               "v1.5's (OOD positive); percent\n");
}

Json metrics_json(const OodMetrics& m) {
  Json j = Json::object();
  j.set("fpr95", m.fpr95);
  j.set("fpr95_openood", m.fpr95_openood);
  j.set("auroc", m.auroc);
  j.set("aupr_in", m.aupr_in);
  j.set("aupr_out", m.aupr_out);
  return j;
}

Json method_json(const MethodResult& r) {
  Json j = Json::object();
  j.set("name", r.name);
  Json sets = Json::array();
  for (const SetMetrics& s : r.ood) {
    Json o = metrics_json(s.metrics);
    Json named = Json::object();
    named.set("name", s.name);
    for (const auto& kv : o.members()) named.set(kv.first, kv.second);
    sets.push_back(named);
  }
  j.set("ood", sets);
  j.set("average", metrics_json(r.average));
  return j;
}

}  // namespace

void print_method_table(std::FILE* out, const IdSummary& id, const std::vector<MethodResult>& rows) {
  int wm = 6, ws = 3;  // "method", "AVG"
  for (const MethodResult& r : rows) {
    wm = std::max(wm, static_cast<int>(r.name.size()));
    for (const SetMetrics& s : r.ood) ws = std::max(ws, static_cast<int>(s.name.size()));
  }
  std::fprintf(out, "in-distribution: %s (%lld samples", id.name.c_str(),
               static_cast<long long>(id.count));
  if (id.accuracy >= 0) std::fprintf(out, ", accuracy %.2f%%", 100 * id.accuracy);
  std::fprintf(out, ")\n%-*s  %-*s", wm, "method", ws, "OOD");
  metric_heads(out);
  std::fprintf(out, "\n");
  for (const MethodResult& r : rows) {
    for (size_t i = 0; i <= r.ood.size(); ++i) {
      const bool avg = i == r.ood.size();
      std::fprintf(out, "%-*s  %-*s", wm, i == 0 ? r.name.c_str() : "", ws,
                   avg ? "AVG" : r.ood[i].name.c_str());
      metric_cells(out, avg ? r.average : r.ood[i].metrics);
      std::fprintf(out, "\n");
    }
  }
  legend(out);
}

void print_sweep_table(std::FILE* out, const SweepResult& s, const std::string& val_name) {
  int wv = static_cast<int>(s.spec.key.size());
  for (const SweepPoint& p : s.points)
    wv = std::max(wv, std::snprintf(nullptr, 0, "%g", p.value));
  const bool val = !val_name.empty();
  std::fprintf(out, "sweep of %s over %s (%zu points, %.2f s)%s\n", s.spec.name.c_str(),
               s.spec.key.c_str(), s.points.size(), s.seconds,
               val ? (", selected by AUROC on " + val_name).c_str() : ", averages over the OOD sets");
  std::fprintf(out, "%*s", wv, s.spec.key.c_str());
  if (val)
    std::fprintf(out, "  val AUROC");
  else
    metric_heads(out);
  std::fprintf(out, "\n");
  for (size_t i = 0; i < s.points.size(); ++i) {
    std::fprintf(out, "%*g", wv, s.points[i].value);
    if (val)
      std::fprintf(out, "  %9.2f%s", 100 * s.points[i].val_auroc,
                   static_cast<int64_t>(i) == s.selected ? "  <- selected" : "");
    else
      metric_cells(out, s.points[i].result.average);
    std::fprintf(out, "\n");
  }
  if (!val) legend(out);
}

std::string score_json(const IdSummary& id, const std::vector<MethodResult>& methods,
                       const SweepResult* sweep) {
  Json top = Json::object();
  Json idj = Json::object();
  idj.set("name", id.name);
  idj.set("count", id.count);
  idj.set("accuracy", id.accuracy >= 0 ? Json(id.accuracy) : Json());
  top.set("id", idj);
  Json ms = Json::array();
  for (const MethodResult& r : methods) ms.push_back(method_json(r));
  top.set("methods", ms);
  if (sweep) {
    Json sj = Json::object();
    sj.set("method", sweep->spec.name);
    sj.set("key", sweep->spec.key);
    Json points = Json::array();
    for (const SweepPoint& p : sweep->points) {
      Json pj = Json::object();
      pj.set("value", p.value);
      pj.set("name", p.result.name);
      if (sweep->selected >= 0)
        pj.set("val_auroc", p.val_auroc);
      else
        pj.set("average", metrics_json(p.result.average));
      points.push_back(pj);
    }
    sj.set("points", points);
    sj.set("selected", sweep->selected >= 0
                           ? Json(sweep->points[static_cast<size_t>(sweep->selected)].result.name)
                           : Json());
    top.set("sweep", sj);
  }
  return top.dump(2) + "\n";
}

}  // namespace dice
