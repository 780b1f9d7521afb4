// formats/safetensors: a file laid out like the reference writer's is read; write/read round trip
// keeps tensors and metadata; bad offsets, overlaps, gaps and truncations are errors naming the file.
#include <cstring>
#include <random>

#include "core/error.h"
#include "core/file_io.h"
#include "formats/json.h"
#include "formats/safetensors.h"
#include "test_util.h"

static std::vector<uint8_t> bytes_of(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

TEST(SafeTensors, ReadsReferenceLayout) {
  std::string path = dice::test::fixture("formats/python.safetensors");
  std::vector<uint8_t> raw = dice::read_file(path);
  EXPECT_TRUE(dice::is_safetensors(raw.data(), raw.size()));
  dice::SafeTensorsFile f = dice::read_safetensors(path);
  ASSERT_EQ(f.tensors.size(), 3u);
  EXPECT_EQ(f.metadata.at("format"), "pt");
  const auto& w = f.tensors.at("w");
  EXPECT_EQ(w.dtype, "F32");
  EXPECT_EQ(w.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(w.data, bytes_of({0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(f.tensors.at("h").dtype, "F16");
  EXPECT_TRUE(f.tensors.at("n").shape.empty());
  int64_t n;
  std::memcpy(&n, f.tensors.at("n").data.data(), 8);
  EXPECT_EQ(n, 9);
}

TEST(SafeTensors, RoundTrip) {
  dice::SafeTensorsFile f;
  f.tensors["b.weight"] = {"F32", {2, 2}, bytes_of({1, 2, 3, 4})};
  f.tensors["a"] = {"F32", {3}, bytes_of({-1, 0.5f, 1e-30f})};
  f.tensors["empty"] = {"F32", {0}, {}};
  f.tensors["i"] = {"I64", {1}, std::vector<uint8_t>(8, 0x7f)};
  f.metadata["note"] = "quote \" and newline\n";
  f.metadata["epoch"] = "100";
  std::string path = dice::test::temp_dir() + "/rt.safetensors";
  dice::write_safetensors(path, f);
  std::vector<uint8_t> raw = dice::read_file(path);
  uint64_t hlen;
  std::memcpy(&hlen, raw.data(), 8);
  EXPECT_EQ(hlen % 8, 0u);  // data stays 8-byte aligned
  dice::SafeTensorsFile g = dice::read_safetensors(path);
  EXPECT_EQ(g.metadata, f.metadata);
  ASSERT_EQ(g.tensors.size(), f.tensors.size());
  for (const auto& kv : f.tensors) {
    const auto& t = g.tensors.at(kv.first);
    EXPECT_EQ(t.dtype, kv.second.dtype);
    EXPECT_EQ(t.shape, kv.second.shape);
    EXPECT_EQ(t.data, kv.second.data);
  }
}

static std::vector<uint8_t> make(const std::string& header, size_t data_bytes) {
  std::string s;
  for (int k = 0; k < 8; ++k) s.push_back(static_cast<char>((header.size() >> (8 * k)) & 0xff));
  s += header;
  s.append(data_bytes, '\0');
  return std::vector<uint8_t>(s.begin(), s.end());
}

TEST(SafeTensors, RejectsBadHeaders) {
  const std::pair<std::string, size_t> bad[] = {
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4},      // runs past the end
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4},      // size mismatch
      {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})", 6},
      {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8},      // gap
      {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 12},     // trailing bytes
      {R"({"a":{"dtype":"X9","shape":[1],"data_offsets":[0,4]}})", 4},
      {R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4},
      {R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4},
      {R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 4},
      {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 8},
      {R"({"__metadata__":{"k":1}})", 0},
      {R"([1,2])", 0},
      {R"({"a":{"dtype":"F32"}})", 0},
  };
  for (const auto& c : bad) {
    std::vector<uint8_t> b = make(c.first, c.second);
    try {
      dice::parse_safetensors(b.data(), b.size(), "bad.safetensors");
      ADD_FAILURE() << "accepted: " << c.first;
    } catch (const dice::Error& e) {
      EXPECT_NE(std::string(e.what()).find("bad.safetensors"), std::string::npos) << e.what();
    }
  }
  std::vector<uint8_t> huge(16, 0xff);
  EXPECT_THROW(dice::parse_safetensors(huge.data(), huge.size(), "h"), dice::Error);
}

TEST(SafeTensors, TruncationsAndFlipsNeverCrash) {
  std::vector<uint8_t> full = dice::read_file(dice::test::fixture("formats/python.safetensors"));
  for (size_t n = 0; n < full.size(); ++n)
    EXPECT_THROW(dice::parse_safetensors(full.data(), n, "cut.safetensors"), dice::Error) << n;
  std::mt19937 rng(3);
  for (int iter = 0; iter < 2000; ++iter) {
    std::vector<uint8_t> b = full;
    b[rng() % b.size()] = static_cast<uint8_t>(rng());
    try {
      dice::parse_safetensors(b.data(), b.size(), "flip.safetensors");
    } catch (const dice::Error&) {
    }
  }
}
