// The HTML report: ROC points on hand-checked cases, the thinning, and a written report that is
// well-formed XML (checked by a small tag-balancing parser below), draws as many ROC points per
// method and OOD set as the thinned curve has, escapes what it echoes, and names its inputs.
#include "ood/report_html.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "ood/metrics.h"
#include "test_util.h"

namespace {

using dice::CurvePoint;

// Checks XML well-formedness: tags balance, attributes are quoted, text holds no raw '<' and
// every '&' starts an entity. Returns "" or what is wrong.
std::string xml_problem(const std::string& s) {
  std::vector<std::string> stack;
  size_t i = 0;
  auto entity_ok = [&](size_t at) {
    const size_t semi = s.find(';', at);
    if (semi == std::string::npos || semi - at > 8) return false;
    const std::string e = s.substr(at + 1, semi - at - 1);
    return e == "amp" || e == "lt" || e == "gt" || e == "quot" || e == "apos" ||
           (!e.empty() && e[0] == '#');
  };
  while (i < s.size()) {
    if (s[i] == '&' && !entity_ok(i)) return "bare & at " + std::to_string(i);
    if (s[i] != '<') {
      ++i;
      continue;
    }
    if (s.compare(i, 4, "<!--") == 0) {
      i = s.find("-->", i);
      if (i == std::string::npos) return "unterminated comment";
      i += 3;
      continue;
    }
    const size_t end = s.find('>', i);
    if (end == std::string::npos) return "unterminated tag at " + std::to_string(i);
    std::string tag = s.substr(i + 1, end - i - 1);
    i = end + 1;
    if (tag.rfind("!DOCTYPE", 0) == 0) continue;
    if (tag.find('<') != std::string::npos) return "'<' inside a tag: " + tag;
    if (!tag.empty() && tag[0] == '/') {
      if (stack.empty() || stack.back() != tag.substr(1)) return "unbalanced </" + tag.substr(1) + ">";
      stack.pop_back();
      continue;
    }
    const bool self_closing = !tag.empty() && tag.back() == '/';
    if (self_closing) tag.pop_back();
    const std::string name = tag.substr(0, tag.find_first_of(" \n"));
    // Attributes: name="value" pairs only.
    size_t q = 0;
    for (char c : tag) q += c == '"';
    if (q % 2) return "odd quotes in <" + name + ">";
    for (size_t p = tag.find('='); p != std::string::npos; p = tag.find('=', p + 1)) {
      size_t quotes_before = 0;
      for (size_t k = 0; k < p; ++k) quotes_before += tag[k] == '"';
      if (quotes_before % 2 == 0 && (p + 1 >= tag.size() || tag[p + 1] != '"'))
        return "unquoted attribute in <" + name + ">";
    }
    if (!self_closing) stack.push_back(name);
  }
  return stack.empty() ? "" : "unclosed <" + stack.back() + ">";
}

TEST(ReportHtml, XmlCheckerCatchesBrokenMarkup) {  // the checker itself can fail
  EXPECT_EQ(xml_problem("<a><b x=\"1\"/>t &amp; u</a>"), "");
  EXPECT_NE(xml_problem("<a><b></a>"), "");
  EXPECT_NE(xml_problem("<a x=1></a>"), "");
  EXPECT_NE(xml_problem("<a>x & y</a>"), "");
  EXPECT_NE(xml_problem("<a>"), "");
}

TEST(ReportHtml, RocPointsByHand) {
  // Thresholds 3, 2 (one ID and one OOD tie), 1.
  const std::vector<CurvePoint> want{{0, 0}, {0, 0.5}, {0.5, 1}, {1, 1}};
  EXPECT_EQ(dice::roc_points({3, 2}, {1, 2}), want);
  // Perfect separation: up the left edge, then along the top.
  const std::vector<CurvePoint> perfect{{0, 0}, {0, 0.5}, {0, 1}, {0.5, 1}, {1, 1}};
  EXPECT_EQ(dice::roc_points({5, 4}, {1, 0}), perfect);
  EXPECT_THROW(dice::roc_points({}, {1}), dice::Error);
  EXPECT_THROW(dice::roc_points({1, NAN}, {1}), dice::Error);
}

TEST(ReportHtml, RocAreaMatchesAuroc) {
  std::mt19937 rng(3);
  std::normal_distribution<double> a(1.0, 1.0), b(0.0, 1.0);
  std::vector<double> id(700), ood(900);
  for (double& x : id) x = std::round(a(rng) * 20) / 20;  // rounded: many ties
  for (double& x : ood) x = std::round(b(rng) * 20) / 20;
  const auto pts = dice::roc_points(id, ood);
  double area = 0;
  for (size_t i = 1; i < pts.size(); ++i)
    area += (pts[i].first - pts[i - 1].first) * (pts[i].second + pts[i - 1].second) / 2;
  EXPECT_NEAR(area, dice::compute_metrics(id, ood).auroc, 1e-12);
}

TEST(ReportHtml, ThinningKeepsEndsAndDropsSmallSteps) {
  std::vector<CurvePoint> c;
  for (int i = 0; i <= 1000; ++i) c.emplace_back(i / 1000.0, i / 1000.0);
  const auto t = dice::thin_curve(c, 0.01);
  EXPECT_EQ(t.front(), c.front());
  EXPECT_EQ(t.back(), c.back());
  EXPECT_GE(t.size(), 100u);
  EXPECT_LE(t.size(), 102u);
  for (size_t i = 1; i + 1 < t.size(); ++i)
    EXPECT_GE(std::max(t[i].first - t[i - 1].first, t[i].second - t[i - 1].second), 0.01 - 1e-12);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Number of points in the n-th <polyline class="roc"> of the file.
std::vector<size_t> roc_polyline_sizes(const std::string& html) {
  std::vector<size_t> sizes;
  for (size_t p = html.find("<polyline class=\"roc\""); p != std::string::npos;
       p = html.find("<polyline class=\"roc\"", p + 1)) {
    const size_t a = html.find("points=\"", p) + 8, b = html.find('"', a);
    std::istringstream pts(html.substr(a, b - a));
    size_t n = 0;
    for (std::string xy; pts >> xy;) ++n;
    sizes.push_back(n);
  }
  return sizes;
}

TEST(ReportHtml, WrittenReportIsWellFormedAndDrawsTheThinnedCurves) {
  std::mt19937 rng(7);
  std::normal_distribution<double> g(0.0, 1.0);
  auto draw = [&](size_t n, double shift) {
    std::vector<double> v(n);
    for (double& x : v) x = g(rng) + shift;
    return v;
  };
  const std::vector<std::string> methods{"Energy", "DICE (p=90)"}, sets{"dtd <textures>", "noise"};
  std::vector<dice::EvalReport> reports;
  std::vector<dice::ReportScores> scores;
  for (size_t m = 0; m < methods.size(); ++m) {
    dice::ReportScores sc;
    sc.id = draw(3000, 2.0 + static_cast<double>(m));
    dice::EvalReport r;
    r.method = methods[m];
    r.id_name = "cifar10";
    r.id_count = 3000;
    r.id_accuracy = 0.9;
    std::vector<dice::OodMetrics> all;
    for (size_t k = 0; k < sets.size(); ++k) {
      sc.ood.push_back(draw(1500 + 500 * k, 0.0));
      r.ood.push_back({sets[k], static_cast<int64_t>(sc.ood.back().size()),
                       dice::compute_metrics(sc.id, sc.ood.back())});
      all.push_back(r.ood.back().metrics);
    }
    r.average = dice::average_metrics(all);
    reports.push_back(r);
    scores.push_back(sc);
  }
  dice::ReportMeta meta;
  meta.command_line = "dice eval --id a&b --ood '<x>'";
  meta.model = "densenet101";
  meta.weights = "/w/checkpoint_100.pth.tar";
  meta.weights_sha256 = std::string(64, 'f');
  meta.device = "cpu";
  meta.precision = "fp32";
  meta.version = "0.1.0";
  meta.git_commit = "abc123";
  meta.datasets = {{"cifar10", 3000}, {"dtd <textures>", 1500}, {"noise", 2000}};
  meta.stages = {{"decode", 1.5}, {"forward", 2.25}};
  meta.wall_seconds = 4.0;
  const std::string path = dice::test::temp_dir() + "/report.html";
  dice::write_report_html(path, meta, reports, scores);
  const std::string html = slurp(path);

  EXPECT_EQ(xml_problem(html), "");
  // One ROC polyline per OOD set and method, in that order, each with the thinned curve's points.
  std::vector<size_t> want;
  for (size_t k = 0; k < sets.size(); ++k)
    for (size_t m = 0; m < methods.size(); ++m)
      want.push_back(dice::thin_curve(dice::roc_points(scores[m].id, scores[m].ood[k]),
                                      dice::kReportCurveStep).size());
  EXPECT_EQ(roc_polyline_sizes(html), want);
  for (size_t n : want) EXPECT_LT(n, 1000u);  // thinned from ~4500 thresholds
  // Two histograms (ID and OOD polygons) per method and OOD set.
  size_t hist = 0;
  for (size_t p = html.find("class=\"hist\""); p != std::string::npos; p = html.find("class=\"hist\"", p + 1)) ++hist;
  EXPECT_EQ(hist, 2 * sets.size() * methods.size());
  // What it echoes is escaped; the metadata is there.
  EXPECT_NE(html.find("dice eval --id a&amp;b --ood &#39;&lt;x&gt;&#39;"), std::string::npos);
  EXPECT_NE(html.find("dtd &lt;textures&gt; (1500 samples)"), std::string::npos);
  EXPECT_NE(html.find(std::string(64, 'f')), std::string::npos);
  EXPECT_NE(html.find("0.1.0, commit abc123"), std::string::npos);
  EXPECT_NE(html.find("decode 1.50 s, forward 2.25 s"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("<svg xmlns=\"http://www.w3.org/2000/svg\""), std::string::npos);
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);  // nothing fetched from the network
}

}  // namespace
