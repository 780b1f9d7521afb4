// ood/report: the table layout (the reference's print_all_results columns) and the JSON file,
// compared as whole strings on a fixed report.
#include "ood/report.h"

#include <dirent.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

#include "core/error.h"
#include "test_util.h"

namespace {

dice::EvalReport sample_report() {
  dice::EvalReport r;
  r.method = "DICE (p=90)";
  r.id_name = "CIFAR-10";
  r.id_count = 10000;
  r.id_accuracy = 0.9450;
  r.ood.push_back({"SVHN", 26032, {0.2599, 0.9590, 0.99075, 0.85, 0.1}});
  r.ood.push_back({"LSUN_resize", 10000, {0.03915, 0.99201, 0.998, 0.97, 0.04}});
  r.ood.push_back({"dtd", 5640, {1.0, 0.5, 0.5, 0.125, 0.5}});
  r.average = dice::average_metrics({r.ood[0].metrics, r.ood[1].metrics, r.ood[2].metrics});
  return r;
}

std::string printed(const dice::EvalReport& r) {
  char* buf = nullptr;
  size_t len = 0;
  std::FILE* f = ::open_memstream(&buf, &len);
  EXPECT_NE(f, nullptr);
  dice::print_report(f, r);
  std::fclose(f);
  std::string s(buf, len);
  std::free(buf);
  return s;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(Report, TableLayout) {
  // Python's '{:12s}'.format(name) + ' {:6.2f}'.format(100. * v) per column prints the same
  // (checked with python3): 100. * 0.99075 is 99.07500000000000284... and prints 99.08, while
  // 100. * 0.03915 is 3.9149999999999996 and prints 3.91.
  const std::string want =
      " OOD detection method: DICE (p=90)\n"
      " in-distribution: CIFAR-10 (10000 samples)\n"
      "              FPR    AUROC  AUIN\n"
      "SVHN          25.99  95.90  99.08\n"
      "LSUN_resize    3.91  99.20  99.80\n"
      "dtd          100.00  50.00  50.00\n"
      "AVG           43.30  81.70  82.96\n"
      "ID accuracy: 94.50%\n";
  EXPECT_EQ(printed(sample_report()), want);
}

TEST(Report, LongNamesKeepColumnsAligned) {
  dice::EvalReport r = sample_report();
  r.ood[1].name = "imagenet-sample-resized-32";  // 26 characters
  const std::string text = printed(r);
  std::istringstream lines(text);
  std::string line;
  std::vector<size_t> ends;  // where each row ends: the same for every row
  while (std::getline(lines, line))
    if (line.find('.') != std::string::npos && line.rfind("ID acc", 0) != 0) ends.push_back(line.size());
  ASSERT_EQ(ends.size(), 4u) << text;
  for (size_t e : ends) EXPECT_EQ(e, 26u + 1 + 6 + 1 + 6 + 1 + 6) << text;
  EXPECT_NE(text.find("imagenet-sample-resized-32   3.91  99.20  99.80\n"), std::string::npos) << text;
}

TEST(Report, TableWithoutLabels) {
  dice::EvalReport r = sample_report();
  r.id_accuracy = -1;
  r.ood.clear();
  EXPECT_EQ(printed(r),
            " OOD detection method: DICE (p=90)\n"
            " in-distribution: CIFAR-10 (10000 samples)\n"
            "              FPR    AUROC  AUIN\n"
            "ID accuracy: n/a (the ID set has no labels)\n");
}

TEST(Report, JsonOneReport) {
  dice::EvalReport r = sample_report();
  r.ood.resize(1);
  r.average = r.ood[0].metrics;
  r.method = "Energy \"plain\"";
  const std::string path = dice::test::temp_dir() + "/one.json";
  dice::write_reports_json(path, {r});
  EXPECT_EQ(
      slurp(path),
      "{\n"
      "  \"method\": \"Energy \\\"plain\\\"\",\n"
      "  \"id\": {\"name\": \"CIFAR-10\", \"count\": 10000, \"accuracy\": 0.94499999999999995},\n"
      "  \"ood\": [\n"
      "    {\"name\": \"SVHN\", \"count\": 26032, \"fpr95\": 0.25990000000000002, \"auroc\": "
      "0.95899999999999996, \"aupr_in\": 0.99075000000000002, \"aupr_out\": "
      "0.84999999999999998, \"dterr\": 0.10000000000000001}\n"
      "  ],\n"
      "  \"average\": {\"fpr95\": 0.25990000000000002, \"auroc\": 0.95899999999999996, "
      "\"aupr_in\": 0.99075000000000002, \"aupr_out\": 0.84999999999999998, \"dterr\": "
      "0.10000000000000001}\n"
      "}\n");
  EXPECT_EQ(slurp(path), dice::report_json(r));
}

TEST(Report, JsonSeveralReportsAndNulls) {
  dice::EvalReport a = sample_report(), b = sample_report();
  b.method = "Energy";
  b.id_accuracy = -1;
  b.ood.clear();
  b.id_name = "tab\there";
  const std::string dir = dice::test::temp_dir(), path = dir + "/runs.json";
  dice::write_reports_json(path, {a, b});
  const std::string s = slurp(path);
  EXPECT_EQ(s.rfind("{\"runs\": [\n  {\n    \"method\": \"DICE (p=90)\",\n", 0), 0u) << s;
  EXPECT_NE(s.find("  {\n    \"method\": \"Energy\",\n    \"id\": {\"name\": \"tab\\u0009here\", "
                   "\"count\": 10000, \"accuracy\": null},\n    \"ood\": [],\n    \"average\": "
                   "null\n  }\n]}\n"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("    {\"name\": \"dtd\", \"count\": 5640, \"fpr95\": 1, \"auroc\": 0.5, "
                   "\"aupr_in\": 0.5, \"aupr_out\": 0.125, \"dterr\": 0.5}\n    ],\n"),
            std::string::npos)
      << s;
  dice::write_reports_json(path, {});
  EXPECT_EQ(slurp(path), "{\"runs\": []}\n");
  // The atomic write leaves no temporary file next to the result.
  int files = 0;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) files += e->d_name[0] != '.';
    ::closedir(d);
  }
  EXPECT_EQ(files, 1);
}

TEST(Report, JsonUnwritablePathThrows) {
  EXPECT_THROW(dice::write_reports_json("/nonexistent-dir/x.json", {sample_report()}), dice::Error);
}

}  // namespace
