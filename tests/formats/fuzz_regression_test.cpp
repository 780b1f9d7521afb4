// Regressions of the fuzzing campaign (issue 6). Two kinds:
//  - Replay: every input committed under fuzz/regressions/<target>/ goes through the same code as
//    the fuzz target (fuzz/targets.h) and must either parse or throw dice::Error; under the
//    sanitizer build (scripts/sanitize.sh) this also proves no out-of-bounds access or leak.
//  - Resource limits found by review and fuzzing, each built in code so the hostile shape is
//    visible here: overlapping zip members, huge npy shapes behind a zero dimension, stride-0
//    tensors expanding a tiny checkpoint, safetensors tensors listing one buffer many times,
//    JSON objects with many keys, more globals a pickle may try to call, and the output area of a
//    thin image under Resize(n).
#include <dirent.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "core/file_io.h"
#include "formats/byte_reader.h"
#include "formats/zip_maker.h"
#include "fuzz/targets.h"

using namespace std::string_literals;

namespace {

const std::string kRegressions = std::string(DICE_TEST_FIXTURES) + "/../../fuzz/regressions";

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') out.push_back(dir + "/" + e->d_name);
    ::closedir(d);
  }
  return out;
}

std::string error_of(void (*f)(const uint8_t*, size_t), const std::string& bytes) {
  try {
    f(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  } catch (const dice::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(FuzzRegression, CommittedInputsParseOrThrowDiceError) {
  int replayed = 0;
  for (const auto& t : dice_fuzz::all_targets()) {
    for (const std::string& path : files_in(kRegressions + "/" + t.name)) {
      SCOPED_TRACE(path);
      std::vector<uint8_t> b = dice::read_file(path);
      try {
        t.run(b.data(), b.size());
      } catch (const dice::Error&) {
      }
      ++replayed;
    }
  }
  std::printf("replayed %d committed fuzz inputs\n", replayed);
}

TEST(FuzzRegression, ZipMembersMayNotOverlap) {
  // One deflated member, then a second central-directory entry naming the same local header:
  // N such entries would inflate the same bytes N times.
  std::vector<uint8_t> z = dice::test::make_zip({{"a", std::string(4000, 'x')}}, true);
  const size_t eocd = z.size() - 22;
  auto u32 = [&](size_t at) { return z[at] | z[at + 1] << 8 | z[at + 2] << 16 | uint32_t(z[at + 3]) << 24; };
  const size_t cd_size = u32(eocd + 12), cd_offset = u32(eocd + 16);
  std::vector<uint8_t> cd(z.begin() + cd_offset, z.begin() + cd_offset + cd_size), twin = cd;
  twin[46] = 'b';  // the name of the copy
  std::vector<uint8_t> bomb(z.begin(), z.begin() + cd_offset);
  bomb.insert(bomb.end(), cd.begin(), cd.end());
  bomb.insert(bomb.end(), twin.begin(), twin.end());
  std::vector<uint8_t> end(z.begin() + eocd, z.end());
  end[8] = end[10] = 2;  // entries on this disk, entries
  uint32_t n = static_cast<uint32_t>(2 * cd_size);
  for (int k = 0; k < 4; ++k) end[12 + k] = static_cast<uint8_t>(n >> (8 * k));
  bomb.insert(bomb.end(), end.begin(), end.end());
  try {
    dice::ZipArchive::from_bytes(bomb, "bomb.zip");
    FAIL() << "overlapping members were accepted";
  } catch (const dice::Error& e) {
    EXPECT_NE(std::string(e.what()).find("overlap"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(dice::ZipArchive::from_bytes(z, "one.zip").read("a"));
}

TEST(FuzzRegression, NpyShapeProductMustFitEvenWhenEmpty) {
  std::string h = "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4611686018427387904, 4611686018427387904), }";
  h.append(118 - h.size() - 1, ' ');
  h.push_back('\n');
  std::string npy = "\x93NUMPY\x01\x00"s + static_cast<char>(h.size()) + '\0' + h;
  std::string err = error_of(dice_fuzz::npy, npy);
  EXPECT_NE(err.find("implausibly large"), std::string::npos) << err;
}

static std::string checkpoint_with_view(const std::string& size_tuple, const std::string& stride_tuple) {
  return dice::test::torch_checkpoint_with_view(size_tuple, stride_tuple);
}

TEST(FuzzRegression, StrideZeroViewsCannotExpandACheckpoint) {
  // size (2^30,), stride (0,): 4 GiB of float32 from a 4-byte storage.
  std::string err = error_of(dice_fuzz::torch, checkpoint_with_view("J\x00\x00\x00\x40\x85"s, "K\x00\x85"s));
  EXPECT_NE(err.find("overlapping strides"), std::string::npos) << err;
  // A small broadcast view is still read (size (3,), stride (0,)).
  std::string ok = checkpoint_with_view("K\x03\x85"s, "K\x00\x85"s);
  dice::StateDict sd = dice::load_torch_checkpoint(std::vector<uint8_t>(ok.begin(), ok.end()), "ok.pt");
  EXPECT_EQ(sd.at("w").data, (std::vector<float>{1, 1, 1}));
}

TEST(FuzzRegression, SafetensorsRefusesRepeatedSpansBeforeCopying) {
  std::string h = "{";
  for (int i = 0; i < 1000; ++i)
    h += (i ? "," : "") + "\"t"s + std::to_string(i) + "\":{\"dtype\":\"U8\",\"shape\":[4096],\"data_offsets\":[0,4096]}";
  h += "}";
  std::string f;
  dice::put_le(f, h.size(), 8);
  f += h + std::string(4096, '\1');
  std::string err = error_of(dice_fuzz::safetensors, f);
  EXPECT_NE(err.find("overlaps"), std::string::npos) << err;
}

TEST(FuzzRegression, JsonObjectsWithManyKeysParseInLinearTime) {
  std::string t = "{";
  for (int i = 0; i < 200000; ++i) t += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":" + std::to_string(i);
  t += ",\"k7\":\"last\"}";
  auto t0 = std::chrono::steady_clock::now();
  dice::Json j = dice::Json::parse(t, "many.json");
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(j.size(), 200000u);
  EXPECT_EQ(j.at("k7").as_string(), "last");  // a repeated key replaces the value in place
  EXPECT_EQ(j.members()[7].first, "k7");
  EXPECT_LT(s, 20.0);  // quadratic lookups took minutes; linear takes well under a second
}

TEST(FuzzRegression, PicklesCannotNameDangerousGlobals) {
  // GLOBAL + REDUCE (what __reduce__ produces) for callables beyond those of the pickle tests.
  for (const char* g : {"posix\nsystem", "nt\nsystem", "builtins\nexec", "builtins\ngetattr",
                        "builtins\n__import__", "__builtin__\neval", "subprocess\ncheck_output",
                        "subprocess\nrun", "torch\nload", "numpy\nload", "pickle\nloads",
                        "torch._utils\n_rebuild_tensor_v3", "collections\ndefaultdict"}) {
    std::string p = "\x80\x02"s + "c" + g + "\n" + "X\x02\x00\x00\x00"s + "id" + "\x85R."s;
    std::string err = error_of(dice_fuzz::pickle, p);
    EXPECT_NE(err.find("not allowed"), std::string::npos) << g << ": " << err;
    std::string pt = std::string(1, '\x01') + p;  // and inside a CIFAR python batch
    err = error_of(dice_fuzz::cifar_py, pt);
    EXPECT_NE(err.find("not allowed"), std::string::npos) << g << ": " << err;
  }
  // A __reduce__ of an allowed global with a non-global callable builds an inert object, never
  // calls it; as a checkpoint entry it is not a tensor and the load finds none.
  std::string inert = "\x80\x02}X\x01\x00\x00\x00w"s + "X\x02\x00\x00\x00"s + "id" + ")Rs.";
  std::vector<uint8_t> z = dice::test::make_zip({{"archive/data.pkl", inert}});
  std::string err = error_of(dice_fuzz::torch, std::string(z.begin(), z.end()));
  EXPECT_NE(err.find("no tensors"), std::string::npos) << err;
}

TEST(FuzzRegression, ResizeCapsTheOutputArea) {
  // 1 x 65536 under Resize(256): 256 x 16777216 pixels (12.9 GB), each side within 2^24. Refused
  // before anything is allocated; so is an intermediate image that large.
  dice::Image thin(1, 65536);
  try {
    (void)dice::resize_shorter(thin, 256);
    ADD_FAILURE() << "no error";
  } catch (const dice::Error& e) {
    EXPECT_NE(std::string(e.what()).find("-pixel limit"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)dice::resize_bilinear(thin, 65536, 1), dice::Error);  // 65536 x 65536 rows
  EXPECT_EQ(dice::resize_bilinear(thin, 2, 4).rgb.size(), 2u * 4 * 3);
}
