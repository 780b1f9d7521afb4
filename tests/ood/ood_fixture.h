// Reader of the line-based text fixtures under tests/fixtures/ood/ (written by
// scripts/make_ood_fixtures.py): each non-comment line is a keyword and whitespace-separated
// values; floats are %.17g, so strtod returns the exact doubles numpy had.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace dice::test {

struct FixtureLine {
  std::string key;
  std::vector<std::string> values;
  double num(size_t i) const { return std::strtod(values.at(i).c_str(), nullptr); }
  int64_t integer(size_t i) const { return std::strtoll(values.at(i).c_str(), nullptr, 10); }
  // values[first], values[first+1], ... as doubles.
  std::vector<double> nums(size_t first = 0) const {
    std::vector<double> out;
    for (size_t i = first; i < values.size(); ++i) out.push_back(num(i));
    return out;
  }
};

inline std::vector<FixtureLine> read_fixture_lines(const std::string& rel) {
  std::ifstream in(fixture(rel));
  EXPECT_TRUE(in.good()) << "missing fixture tests/fixtures/" << rel
                         << "; run scripts/make_ood_fixtures.py";
  std::vector<FixtureLine> lines;
  std::string text;
  while (std::getline(in, text)) {
    if (text.empty() || text[0] == '#') continue;
    std::istringstream is(text);
    FixtureLine l;
    is >> l.key;
    std::string v;
    while (is >> v) l.values.push_back(v);
    lines.push_back(std::move(l));
  }
  return lines;
}

}  // namespace dice::test
