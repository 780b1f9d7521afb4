// Seed-corpus generator: writes small valid inputs for each fuzz target into <out>/<target>/,
// made with the project's own writers (npy, safetensors, json, mat, the tests' zip maker), so the
// fuzzer starts from files that pass every check and mutates from there. make_corpus.sh runs it,
// adds pickles written by Python's own pickle module and copies of the committed test fixtures.
// Usage: fuzz_make_corpus OUT_DIR
#include <sys/stat.h>

#include <cstdio>
#include <string>
#include <vector>

#include "core/error.h"
#include "formats/json.h"
#include "formats/mat.h"
#include "formats/npy.h"
#include "formats/safetensors.h"
#include "tests/formats/zip_maker.h"

using namespace std::string_literals;

namespace {

std::string g_out;

void put(const std::string& target, const std::string& name, const std::string& bytes) {
  std::string dir = g_out + "/" + target;
  ::mkdir(g_out.c_str(), 0755);
  ::mkdir(dir.c_str(), 0755);
  std::FILE* f = std::fopen((dir + "/" + name).c_str(), "wb");
  if (!f || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size() || std::fclose(f) != 0) {
    std::perror((dir + "/" + name).c_str());
    std::exit(1);
  }
}
void put(const std::string& target, const std::string& name, const std::vector<uint8_t>& b) {
  put(target, name, std::string(b.begin(), b.end()));
}

template <typename T>
std::vector<uint8_t> raw(const std::vector<T>& v) {
  const uint8_t* p = reinterpret_cast<const uint8_t*>(v.data());
  return std::vector<uint8_t>(p, p + v.size() * sizeof(T));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  g_out = argv[1];
  try {
    // npy: every dtype, scalar / 1-d / 2-d / empty shapes.
    dice::NpyArray a;
    a.descr = "<f4";
    a.shape = {2, 3};
    a.data = raw(std::vector<float>{0, 1, -2, 3.5f, 1e30f, -0.0f});
    put("npy", "f4_2x3.npy", dice::serialize_npy(a, "seed"));
    a.descr = "<i8";
    a.shape = {2};
    a.data = raw(std::vector<int64_t>{-1, 1ll << 40});
    put("npy", "i8_2.npy", dice::serialize_npy(a, "seed"));
    a.descr = "|u1";
    a.shape = {};
    a.data = {7};
    put("npy", "u1_scalar.npy", dice::serialize_npy(a, "seed"));
    a.descr = "<f2";
    a.shape = {0, 4};
    a.data.clear();
    put("npy", "f2_empty.npy", dice::serialize_npy(a, "seed"));

    // safetensors: several dtypes, metadata, a scalar and an empty tensor.
    dice::SafeTensorsFile st;
    st.metadata["format"] = "pt";
    st.tensors["w"] = {"F32", {2, 2}, raw(std::vector<float>{1, 2, 3, 4})};
    st.tensors["b"] = {"F16", {3}, raw(std::vector<uint16_t>{0x3c00, 0, 0xbc00})};
    st.tensors["n"] = {"I64", {}, raw(std::vector<int64_t>{42})};
    st.tensors["e"] = {"U8", {0}, {}};
    put("safetensors", "mixed.safetensors", dice::serialize_safetensors(st, "seed"));
    st.metadata.clear();
    st.tensors.erase("n");
    put("safetensors", "plain.safetensors", dice::serialize_safetensors(st, "seed"));

    // json: the shapes the project reads and writes.
    put("json", "object.json", std::string(R"({"a": [1, 2.5, -3e-7, true, false, null], "b": {"c": "d\u00e9\ud83d\ude00\n"}})"));
    put("json", "header.json", std::string(R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})"));
    put("json", "scalar.json", std::string("-0.5e+10"));
    dice::Json r = dice::Json::object();
    r.set("auroc", dice::Json(0.9123456789));
    r.set("fpr95", dice::Json(0.25));
    put("json", "report.json", r.dump(2));

    // mat: an SVHN-like pair of variables in every encoding the writer has.
    dice::MatArray x, y;
    x.name = "X";
    x.class_name = "uint8";
    x.dims = {4, 4, 3, 2};
    for (int i = 0; i < 96; ++i) x.data.push_back(static_cast<uint8_t>(i * 5));
    y.name = "y";
    y.class_name = "double";
    y.dims = {2, 1};
    y.data = raw(std::vector<double>{10, 3});
    dice::MatArray s;
    s.name = "single_v";
    s.class_name = "single";
    s.dims = {1, 2};
    s.data = raw(std::vector<float>{0.5f, -1});
    put("mat", "plain.mat", dice::serialize_mat_v5({x, y, s}, false));
    put("mat", "compressed.mat", dice::serialize_mat_v5({x, y}, true));
    put("mat", "big_endian.mat", dice::serialize_mat_v5({y, s}, false, true));
    put("mat", "narrow.mat", dice::serialize_mat_v5({y}, false, false, true));

    // zip: stored and deflated, several members.
    put("zip", "stored.zip", dice::test::make_zip({{"a/data.pkl", "\x80\x02}q\x00."}, {"a/version", "3\n"}}));
    put("zip", "deflated.zip", dice::test::make_zip({{"x.txt", std::string(300, 'x')}, {"y", "yy"}}, true));
    put("zip", "empty_member.zip", dice::test::make_zip({{"e", ""}}));

    // cifar_bin: first byte picks the file name (see cifar_bin_fuzz.cpp), then records.
    for (int which : {0, 1}) {
      const int stride = which ? 3074 : 3073;
      std::string b(1, static_cast<char>(which));
      for (int rec = 0; rec < 2; ++rec)
        for (int i = 0; i < stride; ++i) b.push_back(static_cast<char>(i < stride - 3072 ? rec + 1 : (i * 13) & 0xff));
      put("cifar_bin", which ? "cifar100_2.bin" : "cifar10_2.bin", b);
    }

  } catch (const dice::Error& e) {
    std::fprintf(stderr, "fuzz_make_corpus: %s\n", e.what());
    return 1;
  }
  return 0;
}
