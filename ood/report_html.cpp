// The HTML report (see report_html.h). Layout choices: every plot is an inline <svg> with its
// axes labelled in the plot, methods are told apart by colour and by dash pattern (so a
// black-and-white print still separates them), and the page is XHTML-clean (every element closed,
// every attribute quoted, text escaped) so it parses as XML.
#include "ood/report_html.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "core/file_io.h"
#include "core/strings.h"

namespace dice {
namespace {

const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"};
const char* kDashes[] = {"", "7,3", "2,2", "9,3,2,3", "4,4", "1,3", "12,4"};
constexpr int kStyles = 7;

std::string esc(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        if (c < 0x20 && c != '\n' && c != '\t') out += "&#xFFFD;";  // not allowed in XML 1.0
        else out += static_cast<char>(c);
    }
  }
  return out;
}

std::vector<double> sorted_checked(const std::vector<double>& v, const char* which) {
  if (v.empty()) throw_error("report: the ", which, " score set is empty");
  for (double x : v)
    if (std::isnan(x)) throw_error("report: a ", which, " score is NaN");
  std::vector<double> s = v;
  std::sort(s.begin(), s.end(), std::greater<double>());
  return s;
}

// A plot frame: the data rectangle [x0, x1] x [y0, y1] in pixels.
struct Frame {
  double x0, y0, x1, y1;
  double px(double u) const { return x0 + u * (x1 - x0); }  // u in [0, 1]
  double py(double v) const { return y1 - v * (y1 - y0); }  // v in [0, 1], up
};

void axes(std::string& s, const Frame& f, const std::string& xlabel, const std::string& ylabel,
          double xmin, double xmax, double ymax, bool percent_y) {
  appendf(s, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#444\"/>\n",
      f.x0, f.y0, f.x1 - f.x0, f.y1 - f.y0);
  for (int i = 0; i <= 5; ++i) {
    const double u = i / 5.0;
    appendf(s, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", f.px(u), f.y0,
        f.px(u), f.y1);
    appendf(s, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", f.x0, f.py(u),
        f.x1, f.py(u));
    appendf(s, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"middle\">%.3g</text>\n", f.px(u),
        f.y1 + 13, xmin + u * (xmax - xmin));
    const double yv = u * ymax;
    if (percent_y)
      appendf(s, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%.0f%%</text>\n",
          f.x0 - 4, f.py(u) + 3, 100 * yv);
    else
      appendf(s, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%.1f%%</text>\n",
          f.x0 - 4, f.py(u) + 3, 100 * yv);
  }
  appendf(s, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%s</text>\n",
      (f.x0 + f.x1) / 2, f.y1 + 30, esc(xlabel).c_str());
  appendf(s,
      "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\" "
      "transform=\"rotate(-90 %.1f %.1f)\">%s</text>\n",
      f.x0 - 38, (f.y0 + f.y1) / 2, f.x0 - 38, (f.y0 + f.y1) / 2, esc(ylabel).c_str());
}

// ROC curves of every method against OOD set `k`.
void roc_svg(std::string& s, const std::vector<EvalReport>& reports,
             const std::vector<ReportScores>& scores, size_t k) {
  const Frame f{58, 12, 378, 312};
  appendf(s, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"390\" height=\"356\" role=\"img\">\n");
  appendf(s, "<title>ROC curves, %s</title>\n", esc(reports[0].ood[k].name).c_str());
  axes(s, f, "false positive rate (OOD kept as ID)", "true positive rate (ID kept)", 0, 1, 1, true);
  appendf(s, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\" stroke-dasharray=\"3,3\"/>\n",
      f.px(0), f.py(0), f.px(1), f.py(1));
  for (size_t m = 0; m < reports.size(); ++m) {
    const auto pts = thin_curve(roc_points(scores[m].id, scores[m].ood[k]), kReportCurveStep);
    appendf(s, "<polyline class=\"roc\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\"", kColors[m % kStyles]);
    if (*kDashes[m % kStyles]) appendf(s, " stroke-dasharray=\"%s\"", kDashes[m % kStyles]);
    s += " points=\"";
    for (size_t i = 0; i < pts.size(); ++i)
      appendf(s, "%s%.1f,%.1f", i ? " " : "", f.px(pts[i].first), f.py(pts[i].second));
    s += "\"/>\n";
  }
  // Legend, bottom right inside the plot (where ROC curves never go).
  const double lx = f.px(0.36), ly = f.py(0.05) - 16.0 * static_cast<double>(reports.size());
  appendf(s, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fff\" stroke=\"#bbb\"/>\n",
      lx - 4, ly - 12, f.x1 - lx - 2, 16.0 * static_cast<double>(reports.size()) + 6);
  for (size_t m = 0; m < reports.size(); ++m) {
    const double y = ly + 16.0 * static_cast<double>(m);
    appendf(s, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"", lx,
        y - 4, lx + 22, y - 4, kColors[m % kStyles]);
    if (*kDashes[m % kStyles]) appendf(s, " stroke-dasharray=\"%s\"", kDashes[m % kStyles]);
    appendf(s, "/>\n<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">%s (AUROC %.2f)</text>\n", lx + 27, y,
        esc(reports[m].method).c_str(), 100 * reports[m].ood[k].metrics.auroc);
  }
  s += "</svg>\n";
}

// Histogram of one method's ID and OOD scores, with the 95%-of-ID threshold.
void histogram_svg(std::string& s, const std::string& method, const std::string& ood_name,
                   const std::vector<double>& id, const std::vector<double>& ood) {
  constexpr int kBins = 40;
  double lo = INFINITY, hi = -INFINITY;
  for (const auto* v : {&id, &ood})
    for (double x : *v)
      if (std::isfinite(x)) lo = std::min(lo, x), hi = std::max(hi, x);
  if (!(lo < hi)) lo = std::isfinite(lo) ? lo - 0.5 : 0, hi = lo + 1;
  auto fractions = [&](const std::vector<double>& v) {
    std::vector<double> h(kBins, 0.0);
    for (double x : v) {
      const double u = std::isfinite(x) ? (x - lo) / (hi - lo) : (x > 0 ? 1.0 : 0.0);
      h[static_cast<size_t>(std::clamp(static_cast<int>(u * kBins), 0, kBins - 1))] += 1.0;
    }
    for (double& c : h) c /= static_cast<double>(v.size());
    return h;
  };
  const std::vector<double> hid = fractions(id), hood = fractions(ood);
  double ymax = 0;
  for (size_t i = 0; i < hid.size(); ++i) ymax = std::max({ymax, hid[i], hood[i]});
  ymax = std::max(ymax * 1.1, 1e-3);
  // The reference's FPR95 threshold: the ID score at index round(0.05 n) of the ascending order.
  std::vector<double> asc = id;
  std::sort(asc.begin(), asc.end());
  const double idx = std::nearbyint(0.05 * static_cast<double>(asc.size()));  // half to even
  const double t = asc[static_cast<size_t>(std::min<double>(idx, static_cast<double>(asc.size() - 1)))];

  const Frame f{58, 40, 378, 230};
  appendf(s, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"390\" height=\"274\" role=\"img\">\n");
  appendf(s, "<title>%s: scores of ID and %s</title>\n", esc(method).c_str(), esc(ood_name).c_str());
  appendf(s, "<text x=\"%.1f\" y=\"14\" font-size=\"12\" font-weight=\"bold\">%s</text>\n", f.x0,
      esc(method).c_str());
  axes(s, f, "score (higher = in-distribution)", "fraction of the set", lo, hi, ymax, false);
  const struct {
    const std::vector<double>* h;
    const char* color;
    const char* name;
  } sets[] = {{&hid, "#1f77b4", "ID"}, {&hood, "#ff7f0e", "OOD"}};
  for (const auto& set : sets) {
    s += "<polygon class=\"hist\" fill=\"";
    s += set.color;
    s += "\" fill-opacity=\"0.35\" stroke=\"";
    s += set.color;
    s += "\" points=\"";
    appendf(s, "%.1f,%.1f", f.px(0), f.py(0));
    for (int b = 0; b < kBins; ++b) {
      const double v = (*set.h)[static_cast<size_t>(b)] / ymax;
      appendf(s, " %.1f,%.1f %.1f,%.1f", f.px(b / double(kBins)), f.py(v), f.px((b + 1) / double(kBins)), f.py(v));
    }
    appendf(s, " %.1f,%.1f\"/>\n", f.px(1), f.py(0));
  }
  const double tx = f.px(std::clamp((t - lo) / (hi - lo), 0.0, 1.0));
  appendf(s, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#c00\" stroke-width=\"1.5\" stroke-dasharray=\"5,3\"/>\n",
      tx, f.y0, tx, f.y1);
  appendf(s, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"#c00\" text-anchor=\"%s\">TPR 95%% threshold %.4g</text>\n",
      tx + (tx < f.px(0.5) ? 3 : -3), f.y0 + 10, tx < f.px(0.5) ? "start" : "end", t);
  // Legend above the plot, where no bar can hide it.
  appendf(s, "<rect x=\"%.1f\" y=\"21\" width=\"12\" height=\"9\" fill=\"#1f77b4\" fill-opacity=\"0.35\" stroke=\"#1f77b4\"/>\n",
      f.x0);
  appendf(s, "<text x=\"%.1f\" y=\"29\" font-size=\"10\">ID (%zu)</text>\n", f.x0 + 16, id.size());
  appendf(s, "<rect x=\"%.1f\" y=\"21\" width=\"12\" height=\"9\" fill=\"#ff7f0e\" fill-opacity=\"0.35\" stroke=\"#ff7f0e\"/>\n",
      f.x0 + 90);
  appendf(s, "<text x=\"%.1f\" y=\"29\" font-size=\"10\">%s (%zu)</text>\n", f.x0 + 106,
      esc(ood_name).c_str(), ood.size());
  s += "</svg>\n";
}

void metric_row(std::string& s, const std::string& set, const std::string& method, const OodMetrics& m,
                bool avg) {
  appendf(s, "<tr%s><td class=\"l\">%s</td><td class=\"l\">%s</td><td>%.2f</td><td>%.2f</td><td>%.2f</td><td>%.2f</td></tr>\n",
      avg ? " class=\"avg\"" : "", esc(set).c_str(), esc(method).c_str(), 100 * m.fpr95, 100 * m.auroc,
      100 * m.aupr_in, 100 * m.aupr_out);
}

}  // namespace

std::vector<CurvePoint> roc_points(const std::vector<double>& id, const std::vector<double>& ood) {
  const std::vector<double> k = sorted_checked(id, "in-distribution");
  const std::vector<double> o = sorted_checked(ood, "OOD");
  std::vector<CurvePoint> pts{{0.0, 0.0}};
  size_t i = 0, j = 0;
  const double nk = static_cast<double>(k.size()), no = static_cast<double>(o.size());
  while (i < k.size() || j < o.size()) {
    // The next threshold: the largest score not yet passed; everything equal to it goes at once.
    const double t = std::max(i < k.size() ? k[i] : -INFINITY, j < o.size() ? o[j] : -INFINITY);
    while (i < k.size() && k[i] == t) ++i;
    while (j < o.size() && o[j] == t) ++j;
    pts.emplace_back(static_cast<double>(j) / no, static_cast<double>(i) / nk);
  }
  return pts;
}

std::vector<CurvePoint> thin_curve(const std::vector<CurvePoint>& curve, double step) {
  if (curve.size() <= 2) return curve;
  std::vector<CurvePoint> out{curve.front()};
  for (size_t i = 1; i + 1 < curve.size(); ++i)
    if (std::fabs(curve[i].first - out.back().first) >= step ||
        std::fabs(curve[i].second - out.back().second) >= step)
      out.push_back(curve[i]);
  out.push_back(curve.back());
  return out;
}

void write_report_html(const std::string& path, const ReportMeta& meta,
                       const std::vector<EvalReport>& reports,
                       const std::vector<ReportScores>& scores) {
  DICE_ASSERT(!reports.empty() && reports.size() == scores.size());
  const EvalReport& first = reports.front();
  std::string s;
  s += "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n";
  s += "<meta charset=\"utf-8\"/>\n";
  appendf(s, "<title>OOD evaluation: %s, ID %s</title>\n", esc(meta.model).c_str(), esc(first.id_name).c_str());
  s += "<style>\n"
       "body { font-family: 'DejaVu Sans', Arial, sans-serif; color: #222; max-width: 1200px; margin: 20px auto; padding: 0 12px; }\n"
       "h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ccc; }\n"
       "table { border-collapse: collapse; font-size: 13px; }\n"
       "td, th { border: 1px solid #bbb; padding: 3px 9px; text-align: right; }\n"
       "th { background: #eee; } td.l, th.l { text-align: left; } tr.avg td { font-weight: bold; }\n"
       ".plots { display: flex; flex-wrap: wrap; gap: 10px; }\n"
       ".note { font-size: 12px; color: #555; }\n"
       "@media print { body { margin: 0; } .plots { page-break-inside: avoid; } }\n"
       "</style>\n</head>\n<body>\n";
  s += "<h1>Out-of-distribution detection report</h1>\n";
  appendf(s, "<p>%s on <b>%s</b> (%lld ID samples); ", esc(meta.model).c_str(), esc(first.id_name).c_str(),
      static_cast<long long>(first.id_count));
  for (size_t m = 0; m < reports.size(); ++m) {
    if (reports[m].id_accuracy >= 0)
      appendf(s, "%sID accuracy with %s: %.2f%%", m ? ", " : "", esc(reports[m].method).c_str(),
          100 * reports[m].id_accuracy);
  }
  s += ".</p>\n";

  s += "<h2>Metrics (%)</h2>\n<table>\n<tr><th class=\"l\">OOD set</th><th class=\"l\">method</th>"
       "<th>FPR95</th><th>AUROC</th><th>AUPR-In</th><th>AUPR-Out</th></tr>\n";
  for (size_t k = 0; k < first.ood.size(); ++k)
    for (const EvalReport& r : reports) metric_row(s, r.ood[k].name, r.method, r.ood[k].metrics, false);
  if (!first.ood.empty())
    for (const EvalReport& r : reports) metric_row(s, "average", r.method, r.average, true);
  s += "</table>\n<p class=\"note\">FPR95 is the DICE reference's: the fraction of OOD samples scored "
       "above the threshold that keeps 95% of the ID samples (ID = positives). AUPR-In and AUPR-Out "
       "follow the reference's end points. Higher scores mean in-distribution.</p>\n";

  for (size_t k = 0; k < first.ood.size(); ++k) {
    appendf(s, "<h2>%s (%lld samples)</h2>\n<div class=\"plots\">\n", esc(first.ood[k].name).c_str(),
        static_cast<long long>(first.ood[k].count));
    roc_svg(s, reports, scores, k);
    for (size_t m = 0; m < reports.size(); ++m)
      histogram_svg(s, reports[m].method, first.ood[k].name, scores[m].id, scores[m].ood[k]);
    s += "</div>\n";
  }

  s += "<h2>Run</h2>\n<table>\n";
  auto meta_row = [&](const char* key, const std::string& value) {
    appendf(s, "<tr><th class=\"l\">%s</th><td class=\"l\">%s</td></tr>\n", key, esc(value).c_str());
  };
  meta_row("command", meta.command_line);
  meta_row("model", meta.model);
  meta_row("weights", meta.weights);
  meta_row("weights SHA-256", meta.weights_sha256);
  std::string sets;
  for (const auto& d : meta.datasets)
    sets += (sets.empty() ? "" : ", ") + d.first + " (" + std::to_string(d.second) + ")";
  meta_row("data sets", sets);
  meta_row("device", meta.device);
  meta_row("precision", meta.precision);
  std::string stages;
  char buf[64];
  for (const auto& st : meta.stages) {
    std::snprintf(buf, sizeof buf, "%.2f s", st.second);
    stages += (stages.empty() ? "" : ", ") + st.first + " " + buf;
  }
  std::snprintf(buf, sizeof buf, "%.1f s", meta.wall_seconds);
  meta_row("wall time", std::string(buf) + (stages.empty() ? "" : " (" + stages + ")"));
  meta_row("dice-cuda", meta.version + ", commit " + meta.git_commit);
  s += "</table>\n</body>\n</html>\n";
  write_file_atomic(path, s.data(), s.size());
}

}  // namespace dice
