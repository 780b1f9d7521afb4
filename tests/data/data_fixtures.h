// Helpers shared by the tests of data/: the fixture manifest written by
// scripts/make_data_fixtures.py, zlib-compressed float32 expectations, image comparison, and
// small file writers for building data sets in a scratch folder.
#pragma once
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "data/image.h"
#include "test_util.h"

namespace dice::test {

struct ManifestLine {
  std::vector<std::string> f;  // whitespace-separated fields
};

inline std::vector<ManifestLine> manifest(const std::string& kind) {
  std::ifstream in(fixture("data/manifest.txt"));
  std::vector<ManifestLine> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    ManifestLine m;
    std::string w;
    while (ss >> w) m.f.push_back(w);
    if (!m.f.empty() && m.f[0] == kind) out.push_back(m);
  }
  return out;
}

inline std::string data_fixture(const std::string& rel) { return fixture("data/" + rel); }

inline std::vector<uint8_t> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
}

inline void spit(const std::string& path, const void* data, size_t n) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_TRUE(f) << path;
  if (n) {
    ASSERT_EQ(std::fwrite(data, 1, n, f), n);
  }
  std::fclose(f);
}

// n float32 values from a zlib-compressed little-endian file.
inline std::vector<float> read_f32z(const std::string& path, size_t n) {
  std::vector<uint8_t> z = slurp(path);
  std::vector<float> out(n);
  uLongf len = static_cast<uLongf>(n * sizeof(float));
  int rc = uncompress(reinterpret_cast<Bytef*>(out.data()), &len, z.data(),
                      static_cast<uLong>(z.size()));
  EXPECT_EQ(rc, Z_OK) << path;
  EXPECT_EQ(len, n * sizeof(float)) << path;
  return out;
}

inline std::vector<float> read_f32(const std::string& path) {
  std::vector<uint8_t> b = slurp(path);
  std::vector<float> out(b.size() / 4);
  std::memcpy(out.data(), b.data(), out.size() * 4);
  return out;
}

// Max |a - b| over the RGB bytes; -1 if the sizes differ.
inline int max_abs_diff(const Image& a, const Image& b) {
  if (a.width != b.width || a.height != b.height) return -1;
  int m = 0;
  for (size_t i = 0; i < a.rgb.size(); ++i)
    m = std::max(m, std::abs(int(a.rgb[i]) - int(b.rgb[i])));
  return m;
}

inline int64_t count_diff(const Image& a, const Image& b) {
  int64_t n = 0;
  for (size_t i = 0; i < a.rgb.size() && i < b.rgb.size(); ++i) n += a.rgb[i] != b.rgb[i];
  return n;
}

inline bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace dice::test
