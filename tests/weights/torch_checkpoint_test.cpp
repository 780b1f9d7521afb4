// weights/: torch checkpoints written by torch 1.13 (zip and legacy, protocol 2 and 4, wrappers,
// DataParallel prefix, parameters, views with offsets and strides, f16/bf16/f64/int storages)
// load to exactly the values scripts/make_weight_fixtures.py recorded; malicious, truncated and
// corrupted checkpoints throw dice::Error naming the file; safetensors round trips.
#include <cmath>
#include <cstdlib>
#include <random>

#include "core/error.h"
#include "core/file_io.h"
#include "formats/json.h"
#include "formats/zip.h"
#include "formats/zip_maker.h"
#include "test_util.h"
#include "weights/state_dict.h"
#include "weights/torch_checkpoint.h"

using dice::StateDict;
using dice::test::fixture;

namespace {

const dice::Json& expected() {
  static dice::Json j = [] {
    std::vector<uint8_t> b = dice::read_file(fixture("weights/expected.json"));
    return dice::Json::parse(std::string(b.begin(), b.end()), "expected.json");
  }();
  return j;
}

// Compares every tensor of `sd` named in `keys` (all of expected.json when empty) exactly.
void expect_matches(const StateDict& sd, std::vector<std::string> keys = {}) {
  if (keys.empty())
    for (const auto& kv : expected().members()) keys.push_back(kv.first);
  for (const auto& k : keys) {
    const dice::Json& e = expected().at(k);
    ASSERT_TRUE(sd.has(k)) << sd.source << ": missing " << k;
    const dice::Tensor& t = sd.tensors.at(k);
    std::vector<int64_t> shape;
    for (const auto& d : e.at("shape").items()) shape.push_back(d.as_int());
    EXPECT_EQ(t.shape, shape) << k;
    const auto& vals = e.at("values").items();
    ASSERT_EQ(static_cast<size_t>(t.numel()), vals.size()) << k;
    for (size_t i = 0; i < vals.size(); ++i) {
      // Non-finite values are stored as the strings "inf", "-inf", "nan" (JSON has none).
      float want = vals[i].is_string() ? std::strtof(vals[i].as_string().c_str(), nullptr)
                                       : static_cast<float>(vals[i].as_number());
      if (std::isnan(want))
        ASSERT_TRUE(std::isnan(t.data[i])) << k << "[" << i << "]";
      else
        ASSERT_EQ(t.data[i], want) << sd.source << " " << k << "[" << i << "]";
    }
  }
}

std::string error_of(const std::string& path) {
  try {
    dice::load_weights(path);
  } catch (const dice::Error& e) {
    return e.what();
  }
  return "";
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  dice::write_file_atomic(path, b.data(), b.size());
}

}  // namespace

TEST(TorchCheckpoint, ZipAndLegacyGiveTheRecordedValues) {
  for (const char* f : {"weights/zip_basic.pt", "weights/legacy_basic.pt", "weights/zip_proto4.pt"}) {
    SCOPED_TRACE(f);
    StateDict sd = dice::load_weights(fixture(f));
    EXPECT_EQ(sd.tensors.size(), expected().size());
    EXPECT_EQ(sd.source, fixture(f));
    expect_matches(sd);
  }
}

TEST(TorchCheckpoint, WrappersPrefixesAndParameters) {
  const std::vector<std::string> small = {"conv.weight", "fc.bias", "transposed", "half"};
  for (const char* f : {"weights/zip_wrapped_dp.pt", "weights/legacy_wrapped_dp.pt"}) {
    SCOPED_TRACE(f);
    StateDict sd = dice::load_torch_checkpoint(fixture(f));
    EXPECT_EQ(sd.tensors.size(), small.size());  // 'module.' stripped
    expect_matches(sd, small);
    EXPECT_EQ(sd.metadata.at("epoch"), "7");
    EXPECT_EQ(sd.metadata.at("arch"), "densenet");
  }
  expect_matches(dice::load_weights(fixture("weights/zip_model_wrapper.pt")), small);
  expect_matches(dice::load_weights(fixture("weights/legacy_with_optimizer.pt")), small);
  expect_matches(dice::load_weights(fixture("weights/zip_params.pt")), small);
}

TEST(TorchCheckpoint, AtNamesSourceKeyAndShapes) {
  StateDict sd = dice::load_weights(fixture("weights/zip_basic.pt"));
  EXPECT_EQ(sd.at("fc.bias", {5}).numel(), 5);
  try {
    sd.at("fc.weight");
    FAIL();
  } catch (const dice::Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("zip_basic.pt"), std::string::npos) << m;
    EXPECT_NE(m.find("'fc.weight'"), std::string::npos) << m;
    EXPECT_NE(m.find("conv.weight"), std::string::npos) << m;  // a near miss with the same suffix
  }
  try {
    sd.at("conv.weight", {24, 3, 3, 3});
    FAIL();
  } catch (const dice::Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("(4, 3, 3, 3)"), std::string::npos) << m;
    EXPECT_NE(m.find("(24, 3, 3, 3)"), std::string::npos) << m;
  }
}

TEST(TorchCheckpoint, SafetensorsRoundTripKeepsTensorsAndMetadata) {
  StateDict sd = dice::load_weights(fixture("weights/zip_wrapped_dp.pt"));
  sd.metadata["note"] = "converted";
  std::string path = dice::test::temp_dir() + "/w.safetensors";
  dice::save_safetensors(sd, path);
  StateDict back = dice::load_weights(path);
  EXPECT_EQ(back.metadata, sd.metadata);
  ASSERT_EQ(back.tensors.size(), sd.tensors.size());
  for (const auto& kv : sd.tensors) {
    EXPECT_EQ(back.tensors.at(kv.first).shape, kv.second.shape);
    EXPECT_EQ(back.tensors.at(kv.first).data, kv.second.data);
  }
  // Reference-layout safetensors with F16 and I64 entries convert too.
  StateDict py = dice::load_weights(fixture("formats/python.safetensors"));
  EXPECT_EQ(py.tensors.at("h").data, (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(py.tensors.at("n").data, (std::vector<float>{9.0f}));
}

// Pickle bodies for hostile checkpoints; the zip wrapper makes them look like torch files.
using namespace std::string_literals;
static const std::string kOsSystem = "\x80\x02\x63os\nsystem\nX\x02\x00\x00\x00lsq\x00\x85R."s;
static const std::string kEval = "cbuiltins\neval\n(S'__import__(\"os\").system(\"id\")'\ntR.";
static const std::string kPopen = "\x80\x02\x63subprocess\nPopen\nX\x02\x00\x00\x00id\x85\x81."s;
static const std::string kStackGlobal =
    "\x80\x04\x95\x1b\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06system\x94\x93\x94\x8c\x02id\x94\x85\x94R\x94."s;

TEST(TorchCheckpoint, MaliciousPicklesAreRefused) {
  std::string dir = dice::test::temp_dir();
  struct Case {
    const char* name;
    const std::string* pkl;
    const char* global;
  } cases[] = {{"os_system", &kOsSystem, "os.system"}, {"eval", &kEval, "builtins.eval"},
               {"popen", &kPopen, "subprocess.Popen"}, {"stack_global", &kStackGlobal, "os.system"}};
  for (const Case& c : cases) {
    // As a torch zip checkpoint.
    std::string zpath = dir + "/" + c.name + ".pt";
    write_bytes(zpath, dice::test::make_zip({{"archive/data.pkl", *c.pkl}, {"archive/version", "3\n"}}));
    std::string e = error_of(zpath);
    EXPECT_NE(e.find(zpath), std::string::npos) << e;
    EXPECT_NE(e.find(std::string("'") + c.global + "'"), std::string::npos) << e;
    EXPECT_NE(e.find("malicious"), std::string::npos) << e;
    // As the object pickle of a legacy checkpoint (magic, protocol, sys info are genuine).
    std::string lpath = dir + "/" + c.name + "_legacy.pt";
    std::vector<uint8_t> legacy = dice::read_file(fixture("weights/legacy_basic.pt"));
    const size_t header = 137;  // magic (15) + protocol (6) + sys info (116), as torch 1.13 writes them
    std::vector<uint8_t> evil(legacy.begin(), legacy.begin() + header);
    evil.insert(evil.end(), c.pkl->begin(), c.pkl->end());
    write_bytes(lpath, evil);
    e = error_of(lpath);
    EXPECT_NE(e.find(lpath), std::string::npos) << e;
    EXPECT_NE(e.find(std::string("'") + c.global + "'"), std::string::npos) << e;
  }
}

TEST(TorchCheckpoint, TruncatedAndCorruptFilesThrowNamingTheFile) {
  std::string dir = dice::test::temp_dir();
  // In memory (the bytes entry point), so thousands of variants cost no disk writes.
  auto mem_error = [](std::vector<uint8_t> b, const std::string& name) -> std::string {
    try {
      dice::load_torch_checkpoint(std::move(b), name);
    } catch (const dice::Error& e) {
      return e.what();
    }
    return "";
  };
  for (const char* f : {"weights/zip_basic.pt", "weights/legacy_basic.pt"}) {
    std::vector<uint8_t> full = dice::read_file(fixture(f));
    for (size_t n = 0; n < full.size(); ++n) {
      std::string e = mem_error(std::vector<uint8_t>(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n)), "cut.pt");
      EXPECT_NE(e.find("cut.pt"), std::string::npos) << f << " cut at " << n << ": " << e;
    }
    // Random byte damage: loads or throws dice::Error, never crashes.
    std::mt19937 rng(11);
    for (int iter = 0; iter < 3000; ++iter) {
      std::vector<uint8_t> b = full;
      for (int k = 0; k < 3; ++k) b[rng() % b.size()] = static_cast<uint8_t>(rng());
      mem_error(std::move(b), "flip.pt");
    }
  }
  std::string path = dir + "/cut.pt";
  std::vector<uint8_t> full = dice::read_file(fixture("weights/zip_basic.pt"));
  write_bytes(path, std::vector<uint8_t>(full.begin(), full.begin() + 1000));
  EXPECT_NE(error_of(path).find(path), std::string::npos);
  // A torch zip whose storage member is missing.
  dice::ZipArchive z = dice::ZipArchive::from_file(fixture("weights/zip_wrapped_dp.pt"));
  std::vector<std::pair<std::string, std::string>> members;
  for (const auto& n : z.names())
    if (n.find("/data/0") == std::string::npos) members.emplace_back(n, dice::test::str_of(z.read(n)));
  path = dir + "/missing.pt";
  write_bytes(path, dice::test::make_zip(members));
  std::string e = error_of(path);
  EXPECT_NE(e.find(path), std::string::npos) << e;
  EXPECT_NE(e.find("missing"), std::string::npos) << e;
  // Not a checkpoint at all.
  write_bytes(path, std::vector<uint8_t>(64, 'x'));
  e = error_of(path);
  EXPECT_NE(e.find("safetensors"), std::string::npos) << e;
}

TEST(TorchCheckpoint, RealDenseNetCheckpoints) {
  DICE_REQUIRE_ASSET(c10, "checkpoints/CIFAR-10/densenet/checkpoint_100.pth.tar");
  StateDict sd = dice::load_weights(c10);
  sd.at("conv1.weight", {24, 3, 3, 3});
  sd.at("fc.weight", {10, 342});
  sd.at("fc.bias", {10});
  sd.at("block1.layer.0.bn1.running_var", {24});
  sd.at("block3.layer.15.conv2.weight", {12, 48, 3, 3});
  sd.at("trans1.conv1.weight", {108, 216, 1, 1});
  sd.at("bn1.weight", {342});
  EXPECT_EQ(sd.metadata.at("epoch"), "100");
  EXPECT_EQ(sd.tensors.size(), 596u);
  // Spot values printed by torch.load of the same file (float32, compared exactly).
  EXPECT_EQ(sd.at("fc.weight").data[0], 0.00661187618970871f);
  EXPECT_EQ(sd.at("fc.bias").data[9], -0.3072233498096466f);
  EXPECT_EQ(sd.at("block2.layer.7.conv1.weight").data[5 * 192 + 100], 0.024150053039193153f);
  EXPECT_EQ(sd.at("block1.layer.0.bn1.num_batches_tracked").data[0], 78200.0f);
  double sum = 0;
  for (float v : sd.at("conv1.weight").data) sum += v;
  EXPECT_NEAR(sum, -2.160607225378044, 1e-9);
  for (float v : sd.at("block1.layer.0.bn1.running_var").data) EXPECT_GT(v, 0.0f);
  DICE_REQUIRE_ASSET(c100, "checkpoints/CIFAR-100/densenet/checkpoint_100.pth.tar");
  StateDict sd100 = dice::load_weights(c100);
  EXPECT_EQ(sd100.at("fc.weight", {100, 342}).data[0], -0.0647650808095932f);
  EXPECT_EQ(sd100.at("fc.bias").data[99], 0.2139161229133606f);
  EXPECT_EQ(sd100.tensors.size(), sd.tensors.size());
}
