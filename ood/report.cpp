// Table and JSON output of an evaluation (report.h).
// The table keeps the reference's fixed widths ('{:12s}' then ' {:6.2f}' per column) so rows line
// up with the paper's scripts; printf's %.2f rounds the exact binary value half to even, as
// Python's format does, so the two print the same digits for the same double. The JSON writer is
// a few lines of local code on purpose: this module writes one fixed layout and parses nothing.
#include "ood/report.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/file_io.h"
#include "core/strings.h"

namespace dice {
namespace {

// The name column is the reference's 12 characters, widened to the longest name so that the
// metric columns stay aligned whatever the OOD sets are called.
void row(std::FILE* out, int width, const std::string& name, const OodMetrics& m) {
  std::fprintf(out, "%-*s %6.2f %6.2f %6.2f\n", width, name.c_str(), 100.0 * m.fpr95,
               100.0 * m.auroc, 100.0 * m.aupr_in);
}

void json_string(std::string& s, const std::string& v) {
  s += '"';
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') {
      s += '\\';
      s += static_cast<char>(c);
    } else if (c < 0x20) {
      appendf(s, "\\u%04x", c);
    } else {
      s += static_cast<char>(c);  // UTF-8 passes through unchanged
    }
  }
  s += '"';
}

void json_number(std::string& s, double v) {
  if (std::isfinite(v))
    appendf(s, "%.17g", v);
  else
    s += "null";  // JSON has no NaN or Infinity
}

void json_metrics_fields(std::string& s, const OodMetrics& m) {
  s += "\"fpr95\": ";
  json_number(s, m.fpr95);
  s += ", \"auroc\": ";
  json_number(s, m.auroc);
  s += ", \"aupr_in\": ";
  json_number(s, m.aupr_in);
  s += ", \"aupr_out\": ";
  json_number(s, m.aupr_out);
  s += ", \"dterr\": ";
  json_number(s, m.dterr);
}

// One report as a JSON object; `indent` prefixes every line after the first.
void json_report(std::string& s, const EvalReport& r, const std::string& indent) {
  s += "{\n" + indent + "  \"method\": ";
  json_string(s, r.method);
  s += ",\n" + indent + "  \"id\": {\"name\": ";
  json_string(s, r.id_name);
  appendf(s, ", \"count\": %lld, \"accuracy\": ", static_cast<long long>(r.id_count));
  if (r.id_accuracy >= 0)
    json_number(s, r.id_accuracy);
  else
    s += "null";
  s += "},\n" + indent + "  \"ood\": [";
  for (size_t i = 0; i < r.ood.size(); ++i) {
    s += i ? ",\n" : "\n";
    s += indent + "    {\"name\": ";
    json_string(s, r.ood[i].name);
    appendf(s, ", \"count\": %lld, ", static_cast<long long>(r.ood[i].count));
    json_metrics_fields(s, r.ood[i].metrics);
    s += "}";
  }
  s += r.ood.empty() ? "],\n" : "\n" + indent + "  ],\n";
  s += indent + "  \"average\": ";
  if (r.ood.empty()) {
    s += "null";
  } else {
    s += "{";
    json_metrics_fields(s, r.average);
    s += "}";
  }
  s += "\n" + indent + "}";
}

}  // namespace

void print_report(std::FILE* out, const EvalReport& r) {
  std::fprintf(out, " OOD detection method: %s\n", r.method.c_str());
  std::fprintf(out, " in-distribution: %s (%lld samples)\n", r.id_name.c_str(),
               static_cast<long long>(r.id_count));
  int width = 12;
  for (const OodSetResult& s : r.ood) width = std::max(width, static_cast<int>(s.name.size()));
  std::fprintf(out, "%-*s  %-6s %-6s %s\n", width, "", "FPR", "AUROC", "AUIN");
  for (const OodSetResult& s : r.ood) row(out, width, s.name, s.metrics);
  if (!r.ood.empty()) row(out, width, "AVG", r.average);
  if (r.id_accuracy >= 0)
    std::fprintf(out, "ID accuracy: %.2f%%\n", 100.0 * r.id_accuracy);
  else
    std::fprintf(out, "ID accuracy: n/a (the ID set has no labels)\n");
}

std::string report_json(const EvalReport& r) {
  std::string s;
  json_report(s, r, "");
  s += "\n";
  return s;
}

void write_reports_json(const std::string& path, const std::vector<EvalReport>& reports) {
  std::string s;
  if (reports.size() == 1) {
    s = report_json(reports[0]);
  } else {
    s = "{\"runs\": [";
    for (size_t i = 0; i < reports.size(); ++i) {
      s += i ? ",\n  " : "\n  ";
      json_report(s, reports[i], "  ");
    }
    s += reports.empty() ? "]}\n" : "\n]}\n";
  }
  AtomicFile f(path);
  f.write(s);
  f.commit();
}

}  // namespace dice
