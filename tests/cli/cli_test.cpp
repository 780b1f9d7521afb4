// The `dice` command end to end: happy paths on the committed random-weight fixtures, and every
// kind of bad input a user can hand it. Each failure must be one line on stderr that names the
// offending file, a non-zero exit status, and no output file left behind.
#include <fstream>

#include "core/file_io.h"
#include "formats/json.h"
#include "formats/npy.h"
#include "gpu/cuda_check.h"
#include "test_util.h"
#include "weights/state_dict.h"

namespace {

using dice::test::fixture;
using dice::test::run_dice;

const std::string kNet = fixture("nn/densenet40_c10.pth.tar");  // D = 132, C = 10

// Lines of the output that report an error (stdout's header lines may precede them).
int count_error_lines(const std::string& s) {
  int n = 0;
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find('\n', start);
    if (end == std::string::npos) end = s.size();
    n += s.substr(start, end - start).find("error") != std::string::npos;
    start = end + 1;
  }
  return n;
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string feat_stat(const std::string& dir, int64_t dim) {
  std::vector<double> m(static_cast<size_t>(dim));
  for (int64_t i = 0; i < dim; ++i) m[i] = 0.1 + 0.01 * static_cast<double>(i % 17);
  std::string path = dir + "/feat_stat.npy";
  dice::write_npy_f64(path, {dim}, m.data());
  return path;
}

dice::Json read_json(const std::string& path) {
  const std::vector<uint8_t> b = dice::read_file(path);
  return dice::Json::parse(std::string(b.begin(), b.end()), path);
}

// Expects failure: exit 1, exactly one line, mentioning `needle`.
void expect_one_line_error(const std::string& args, const std::string& needle) {
  std::string out;
  int rc = run_dice(args, &out);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_EQ(count_error_lines(out), 1) << out;
  EXPECT_EQ(out.back(), '\n') << out;
  EXPECT_NE(out.find(needle), std::string::npos) << "error should name '" << needle << "': " << out;
}

}  // namespace

TEST(Cli, EvalPrintsBothTablesAndWritesJson) {
  std::string dir = dice::test::temp_dir();
  std::string json = dir + "/r.json";
  std::string out;
  int rc = run_dice("eval --weights " + kNet + " --feat-stat " + feat_stat(dir, 132) +
                        " --p 90 --id gaussian:40 --ood uniform:30 --ood u2=uniform:20:7 --batch 16 --json " + json,
                    &out);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("Energy"), std::string::npos) << out;
  EXPECT_NE(out.find("DICE (p=90)"), std::string::npos) << out;
  EXPECT_NE(out.find("AVG"), std::string::npos) << out;
  dice::Json j = read_json(json);
  // The requested method (DICE) at the top level, the baseline beside it under "baseline".
  EXPECT_EQ(j.at("method").as_string(), "DICE (p=90)");
  EXPECT_EQ(j.at("baseline").at("method").as_string(), "Energy");
  EXPECT_EQ(j.at("ood")[0].at("name").as_string(), "uniform:30");
  EXPECT_EQ(j.at("ood")[1].at("name").as_string(), "u2");
  EXPECT_TRUE(j.at("id").at("accuracy").is_null());  // gaussian noise has no labels
  for (const char* k : {"fpr95", "auroc", "aupr_in", "aupr_out", "dterr"}) {
    double v = j.at("average").at(k).as_number();
    EXPECT_GE(v, 0.0) << k;
    EXPECT_LE(v, 1.0) << k;
  }
}

TEST(Cli, FeaturesWritesThreeArraysInOrder) {
  std::string dir = dice::test::temp_dir();
  std::string out;
  ASSERT_EQ(run_dice("features --weights " + kNet + " --data gaussian:9 --batch 4 --out " + dir + "/g", &out), 0)
      << out;
  dice::NpyArray f = dice::read_npy(dir + "/g.features.npy");
  dice::NpyArray l = dice::read_npy(dir + "/g.logits.npy");
  dice::NpyArray y = dice::read_npy(dir + "/g.labels.npy");
  EXPECT_EQ(f.shape, (std::vector<int64_t>{9, 132}));
  EXPECT_EQ(l.shape, (std::vector<int64_t>{9, 10}));
  EXPECT_EQ(y.shape, (std::vector<int64_t>{9}));
  EXPECT_EQ(f.descr, "<f4");
  EXPECT_EQ(y.descr, "<i8");
}

TEST(Cli, ConvertRoundTripsThroughSafetensors) {
  std::string dir = dice::test::temp_dir();
  std::string st = dir + "/net.safetensors", out;
  ASSERT_EQ(run_dice("convert " + kNet + " " + st, &out), 0) << out;
  dice::StateDict a = dice::load_weights(kNet), b = dice::load_weights(st);
  EXPECT_EQ(b.metadata["architecture"], "densenet");
  EXPECT_EQ(b.metadata["num_classes"], "10");
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (auto& [k, t] : a.tensors) EXPECT_EQ(t.data, b.at(k).data) << k;
  // And the converted file drives the same evaluation.
  ASSERT_EQ(run_dice("features --weights " + st + " --data gaussian:3 --out " + dir + "/s", &out), 0) << out;
  ASSERT_EQ(run_dice("features --weights " + kNet + " --data gaussian:3 --out " + dir + "/t", &out), 0) << out;
  EXPECT_EQ(dice::read_file(dir + "/s.features.npy"), dice::read_file(dir + "/t.features.npy"));
}

TEST(Cli, MissingWeightsFile) {
  expect_one_line_error("eval --weights /nonexistent/w.pth --id gaussian:4 --ood uniform:4", "/nonexistent/w.pth");
}

TEST(Cli, TruncatedCheckpointLeavesNoOutput) {
  std::string dir = dice::test::temp_dir();
  auto bytes = dice::read_file(kNet);
  std::string cut = dir + "/cut.pth.tar";
  dice::write_file_atomic(cut, bytes.data(), bytes.size() / 2);
  expect_one_line_error("convert " + cut + " " + dir + "/o.safetensors", "cut.pth.tar");
  EXPECT_FALSE(dice::file_exists(dir + "/o.safetensors"));
}

TEST(Cli, GarbageCheckpoint) {
  std::string dir = dice::test::temp_dir();
  write_bytes(dir + "/junk.pth", "this is not a checkpoint at all");
  expect_one_line_error("features --weights " + dir + "/junk.pth --data gaussian:2 --out " + dir + "/x", "junk.pth");
  EXPECT_FALSE(dice::file_exists(dir + "/x.features.npy"));
}

TEST(Cli, PickleWithForeignGlobalIsRefused) {
  std::string dir = dice::test::temp_dir();
  // Protocol-2 pickle: GLOBAL 'posix system', the argument tuple, REDUCE, STOP.
  write_bytes(dir + "/evil.pth", std::string("\x80\x02" "cposix\nsystem\n" "X\x04\x00\x00\x00" "true" "\x85" "R.", 27));
  expect_one_line_error("convert " + dir + "/evil.pth " + dir + "/o.safetensors", "evil.pth");
  EXPECT_FALSE(dice::file_exists(dir + "/o.safetensors"));
}

TEST(Cli, DeviceIndexIsChecked) {
  std::string dir = dice::test::temp_dir();
  // No machine has 100 GPUs: the error names the option value (and how many devices there are).
  expect_one_line_error("features --weights " + kNet + " --device cuda:99 --data gaussian:2 --out " + dir + "/x",
                        "cuda:99");
  expect_one_line_error("features --weights " + kNet + " --device cuda:one --data gaussian:2 --out " + dir + "/x",
                        "cuda:N");
  EXPECT_FALSE(dice::file_exists(dir + "/x.features.npy"));
}

// The whole command on the GPU (a real one, or cuda_emu in scripts/emulate.sh): features and both
// tables agree with --device cpu. Several batches, so the two-slot pipeline and the graphs of two
// batch sizes (16, then the last 8) are used.
TEST(CliCuda, FeaturesAndEvalMatchCpu) {
  DICE_REQUIRE_GPU();
  std::string dir = dice::test::temp_dir();
  std::string out;
  for (const char* dev : {"cpu", "cuda"}) {
    ASSERT_EQ(run_dice("features --weights " + kNet + " --data gaussian:40 --batch 16 --device " + dev +
                           " --out " + dir + "/" + dev, &out), 0) << out;
  }
  for (const char* what : {".features.npy", ".logits.npy"}) {
    const std::string c = dir + "/cpu" + what, g = dir + "/cuda" + what;
    const std::vector<float> fc = dice::npy_to_float(dice::read_npy(c), c);
    const std::vector<float> fg = dice::npy_to_float(dice::read_npy(g), g);
    ASSERT_EQ(fc.size(), fg.size());
    EXPECT_LT(dice::test::normalized_error(fg.data(), fc.data(), static_cast<int64_t>(fc.size()), 1e-4, what),
              1e-4);
  }
  EXPECT_EQ(dice::read_file(dir + "/cpu.labels.npy"), dice::read_file(dir + "/cuda.labels.npy"));

  const std::string stat = feat_stat(dir, 132);
  double auroc[2] = {0, 0};
  int i = 0;
  for (const char* dev : {"cpu", "cuda"}) {
    const std::string json = dir + "/" + dev + ".json";
    ASSERT_EQ(run_dice("eval --weights " + kNet + " --feat-stat " + stat + " --p 90 --id gaussian:40 " +
                           "--ood uniform:24 --batch 16 --device " + dev + " --json " + json, &out), 0) << out;
    auroc[i++] = read_json(json).at("average").at("auroc").as_number();
  }
  // Scores agree to ~1e-6, so only an exact tie could reorder two samples (one pair in 960).
  EXPECT_NEAR(auroc[1], auroc[0], 2.0 / 960);
}

TEST(Cli, WrongArchitectureNamesTheFile) {
  std::string dir = dice::test::temp_dir();
  expect_one_line_error("features --model resnet50 --weights " + kNet + " --data gaussian:2 --out " + dir + "/x",
                        "densenet40_c10.pth.tar");
}

TEST(Cli, FeatureStatWithWrongShape) {
  std::string dir = dice::test::temp_dir();
  expect_one_line_error("eval --weights " + kNet + " --feat-stat " + feat_stat(dir, 5) +
                            " --p 90 --id gaussian:4 --ood uniform:4 --json " + dir + "/r.json",
                        "feat_stat.npy");
  EXPECT_FALSE(dice::file_exists(dir + "/r.json"));
}

TEST(Cli, BrokenImageInFolder) {
  std::string dir = dice::test::temp_dir();
  std::string cls = dir + "/set/classA";
  ASSERT_EQ(system(("mkdir -p " + cls).c_str()), 0);
  write_bytes(cls + "/broken.png", "\x89PNG\r\n\x1a\n garbage");
  expect_one_line_error("eval --weights " + kNet + " --id gaussian:4 --ood " + dir + "/set --json " + dir + "/r.json",
                        "broken.png");
  EXPECT_FALSE(dice::file_exists(dir + "/r.json"));
}

TEST(Cli, EmptyFolder) {
  std::string dir = dice::test::temp_dir();
  ASSERT_EQ(system(("mkdir -p " + dir + "/empty").c_str()), 0);
  expect_one_line_error("eval --weights " + kNet + " --id gaussian:4 --ood " + dir + "/empty", dir + "/empty");
}

TEST(Cli, MissingDataPath) {
  expect_one_line_error("eval --weights " + kNet + " --id gaussian:4 --ood /nonexistent/ood_set", "/nonexistent/ood_set");
}

TEST(Cli, BadOptionsAreUsageErrors) {
  std::string out;
  EXPECT_NE(run_dice("eval --weights " + kNet + " --p 150 --id gaussian:4 --ood uniform:4", &out), 0);
  EXPECT_NE(out.find("--p"), std::string::npos) << out;
  EXPECT_NE(run_dice("frobnicate", &out), 0);
  EXPECT_NE(run_dice("eval --bogus 1", &out), 0);
  EXPECT_NE(out.find("--bogus"), std::string::npos) << out;
}

// --cpu-conv picks the CPU algorithm for 3x3 convs: a bad value is a one-line error naming the
// option, and on a ResNet (whose 3x3s take Winograd) direct and winograd-all give features that
// differ by rounding only.
// --gpu-layout: a bad value, and nhwc on the CPU, are one-line errors before anything loads.
TEST(Cli, GpuLayoutOption) {
  expect_one_line_error("features --weights " + kNet + " --data gaussian:2 --out /tmp/x --gpu-layout nchwc",
                        "--gpu-layout");
  expect_one_line_error("features --weights " + kNet + " --data gaussian:2 --out /tmp/x --gpu-layout nhwc",
                        "--gpu-layout nhwc");
}

TEST(Cli, CpuConvOption) {
  expect_one_line_error("features --weights " + kNet + " --data gaussian:2 --out /tmp/x --cpu-conv fast",
                        "--cpu-conv");
  const std::string dir = dice::test::temp_dir();
  const std::string net = dice::test::fixture("nn/resnet18w4.zip.pth");
  std::string out;
  for (const char* algo : {"direct", "winograd-all"})
    ASSERT_EQ(run_dice(std::string("features --weights ") + net + " --data gaussian:3 --batch 3 --cpu-conv " +
                           algo + " --out " + dir + "/" + algo,
                       &out),
              0)
        << out;
  const std::vector<float> a = dice::npy_to_float(dice::read_npy(dir + "/direct.features.npy"), "a");
  const std::vector<float> b = dice::npy_to_float(dice::read_npy(dir + "/winograd-all.features.npy"), "b");
  ASSERT_EQ(a.size(), b.size());
  EXPECT_NE(a, b) << "--cpu-conv changed nothing";
  EXPECT_LT(dice::test::normalized_error(b.data(), a.data(), static_cast<int64_t>(a.size()), 1e-5, "features"),
            1e-5);
}
