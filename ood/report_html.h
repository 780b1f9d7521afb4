// The evaluation report to look at: one self-contained HTML file (no network, no script; inline
// SVG, so it opens offline, prints, and is well-formed XML that tools can parse). Per OOD set:
// the ROC curves of every method in the run, and per method a histogram of ID vs OOD scores with
// the threshold that keeps 95% of the ID samples (the FPR95 operating point) marked; then the
// metric table, and the run's metadata (command line, model, weight file and its SHA-256, data
// sets and sizes, device, precision, wall time per stage, library version and git commit).
//
// Curves are drawn from at most a few hundred points: roc_points() gives every distinct threshold
// (thousands for CIFAR-size sets), thin_curve() keeps a point only where the curve has moved by
// at least `step` along either axis since the last kept one (and always both ends), which is
// invisible at the plot's resolution.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ood/report.h"

namespace dice {

// The scores behind one EvalReport: ID scores and, aligned with report.ood, each OOD set's.
struct ReportScores {
  std::vector<double> id;
  std::vector<std::vector<double>> ood;
};

struct ReportMeta {
  std::string command_line, model, weights, weights_sha256, device, precision;
  std::string version, git_commit;
  std::vector<std::pair<std::string, int64_t>> datasets;   // name, samples
  std::vector<std::pair<std::string, double>> stages;      // stage, seconds
  double wall_seconds = 0;
};

using CurvePoint = std::pair<double, double>;  // (false positive rate, true positive rate)

// The ROC curve of "score > t means ID" over every distinct threshold t, from (0, 0) to (1, 1);
// ties move both rates in one step. Throws dice::Error for an empty set or a NaN score.
std::vector<CurvePoint> roc_points(const std::vector<double>& id, const std::vector<double>& ood);
// The points kept for drawing (see the file comment); step in (0, 1].
std::vector<CurvePoint> thin_curve(const std::vector<CurvePoint>& curve, double step);
// The step the report draws its curves with.
constexpr double kReportCurveStep = 1.0 / 400;

// Writes the report to `path` (all or nothing). reports[i] and scores[i] describe one method.
void write_report_html(const std::string& path, const ReportMeta& meta,
                       const std::vector<EvalReport>& reports,
                       const std::vector<ReportScores>& scores);

}  // namespace dice
