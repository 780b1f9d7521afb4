// `dice eval`: the paper's OOD evaluation. One pass of the network per data set; then the plain
// fc head (the Energy/MSP baseline) and, with --p, the DICE head are applied to the same features
// and a table is printed for each. Everything that can be checked (files, specs, options) is
// checked before the first image is decoded, and --json is written only when the run succeeds.
// --device cuda runs the network on the GPU (nn/exec_cuda.h; --precision and
// --backend pick the tensor-core modes and the cuDNN baseline for ResNet); the heads stay on the CPU.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/eval_methods.h"
#include "core/echo.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/parallel.h"
#include "core/sha256.h"
#include "dice_version.h"
#include "formats/json.h"
#include "ood/dice_mask.h"
#include "ood/evaluate.h"
#include "ood/metrics.h"
#include "ood/report.h"
#include "ood/report_html.h"

namespace dice::cli {
namespace {

const char* kEvalUsage =
    "usage: dice eval --model densenet101 --weights CKPT --feat-stat NPY [--p 90]\n"
    "                 --id NAME=SPEC --ood NAME=SPEC [--ood NAME=SPEC ...]\n"
    "                 [--method energy|msp | --method SPEC ...] [--train PREFIX] [--clip T]\n"
    "                 [--batch N] [--threads N] [--limit N] [--verbose]\n"
    "                 [--device cpu|cuda|cuda:N] [--precision fp32|tf32|fp16|bf16|3xtf32] [--backend ours|cudnn] [--gpu-layout auto|nchw|nhwc]\n"
    "                 [--cpu-conv winograd|direct|winograd-all|winograd4-all]\n"
    "                 [--json OUT.json|-] [--report OUT.html]   (--json -: the JSON alone on\n"
    "                 stdout, the tables on stderr)\n"
    "                 [--labels FILE] [--skip-bad] [--decoder stb|turbo] [--max-image-pixels N]\n"
    "SPEC: an image folder (one sub-folder per class), a CIFAR binary or python batch file,\n"
    "      an SVHN .mat file, tensor:FILE.npy, gaussian:N or uniform:N. Without --p the plain\n"
    "      fc layer is used (the baseline). --labels FILE gives the labels of a flat --id folder\n"
    "      (lines 'ILSVRC2012_val_00000001.JPEG 65'); --skip-bad skips undecodable files with a\n"
    "      warning; --decoder turbo decodes JPEG with libjpeg-turbo (or env DICE_JPEG=turbo).";

}  // namespace

int cmd_eval(int argc, char** argv) {
  Args args(argc, argv, 2,
            with_data_options({"model", "weights", "feat-stat", "p", "id", "ood...", "method...", "clip", "batch",
                               "threads", "limit", "json", "device", "precision", "backend", "gpu-layout", "report", "train", "cpu-conv"}),
            {"help", "quiet", "skip-bad", "verbose"}, kEvalUsage);
  if (args.has("help")) {
    std::puts(kEvalUsage);
    return 0;
  }
  auto t0 = std::chrono::steady_clock::now();
  const std::string weights = args.require("weights");
  const bool methods = eval_wants_methods(args);  // post-hoc SPECs: cli/eval_methods.h
  const std::string method = methods ? "energy" : args.get("method", "energy");
  const bool use_dice = args.has("p");
  const double p = args.get_double("p", 90, 0, 100);
  const double clip_value = args.get_double("clip", INFINITY, -1e30, INFINITY);
  const int64_t batch = args.get_int("batch", 128, 1, 1 << 16);
  const int threads = static_cast<int>(args.get_int("threads", 0, 0, 1024));
  const int64_t limit = args.get_int("limit", -1, 1, INT64_MAX);
  const std::string json = args.get("json");
  const Device device = device_option(args.get("device", "cpu"));
  const ModelOptions options = model_options(args.get("precision", "fp32"), args.get("backend", "ours"),
                                              args.get("gpu-layout", "auto"));
  apply_cpu_conv_option(args.get("cpu-conv"));
  if (!args.has("id")) args.usage_error("missing --id NAME=SPEC (the in-distribution test set)");
  if (!args.has("ood")) args.usage_error("missing --ood NAME=SPEC (at least one OOD set)");
  auto id_spec = split_named_spec(args.get("id"));
  std::vector<std::pair<std::string, std::string>> ood_specs;
  for (const std::string& s : args.all("ood")) {
    ood_specs.push_back(split_named_spec(s));
    const std::string& name = ood_specs.back().first;
    if (name == id_spec.first) args.usage_error("the set name '", echo(name), "' is both --id and --ood; name them apart (--ood NAME=SPEC)");
    for (size_t k = 0; k + 1 < ood_specs.size(); ++k)
      if (ood_specs[k].first == name) args.usage_error("two --ood sets are named '", echo(name), "'; name them apart (--ood NAME=SPEC)");
  }
  {
    std::vector<std::string> specs{args.get("id")};
    for (const std::string& o : args.all("ood")) specs.push_back(o);
    note_inputs({weights, args.get("feat-stat"), args.get("labels")}, specs);
  }
  if (!json.empty()) check_output(json);
  const std::string report_path = args.get("report");
  if (!report_path.empty()) check_output(report_path);
  const DataOptions data_opts =
      data_options(args);
  if (use_dice && !args.has("feat-stat"))
    throw_error("--p needs --feat-stat NPY (the training-set feature mean, e.g. "
                "cache/CIFAR-10_densenet_feat_stat.npy)");
  set_num_threads(threads);
  const bool progress = !args.has("quiet") && ::isatty(2);

  LoadedModel lm = load_model(args.get("model", "auto"), weights, device, options);
  Model& model = *lm.model;
  if (args.has("verbose")) print_plan(model, batch);
  std::unique_ptr<EvalMethods> posthoc =
      methods ? std::make_unique<EvalMethods>(args, model, device == Device::kCuda) : nullptr;
  std::vector<uint8_t> mask;
  DiceMask dm;
  if (use_dice) {
    std::vector<double> mean = load_feature_mean(args.get("feat-stat"), model.feature_dim());
    dm = dice_mask(model.fc_weight().ptr(), model.num_classes(), model.feature_dim(), mean.data(), p);
  }
  Preprocess pp = preprocess_for(model);
  // Open every data set first so that a typo in the last --ood fails before any work is done.
  DatasetOptions id_opts = data_opts.dataset, ood_opts;  // --labels: the ID set
  id_opts.num_classes = ood_opts.num_classes = model.num_classes();
  auto id_data = open_data(id_spec.second, pp, id_opts);
  std::vector<std::unique_ptr<Dataset>> ood_data;
  for (auto& s : ood_specs) ood_data.push_back(open_data(s.second, pp, ood_opts));

  // With --json - standard output carries the JSON alone; the tables go to standard error.
  std::FILE* tables = json == "-" ? stderr : stdout;
  std::fprintf(tables, "model: %s, weights %s\n", model.name().c_str(), weights.c_str());
  std::fprintf(tables, "device: %s; batch %lld\n", describe_device(device, num_threads(), options).c_str(),
               static_cast<long long>(batch));
  if (use_dice)
    std::fprintf(tables, "DICE: p=%g, threshold %.6g, %lld of %lld weights kept\n", p, dm.threshold,
                 static_cast<long long>(dm.kept),
                 static_cast<long long>(model.num_classes() * model.feature_dim()));
  if (std::isfinite(clip_value)) std::fprintf(tables, "ReAct: features clipped at %g\n", clip_value);
  std::fflush(tables);

  const int loader_threads = num_threads();
  FeatureSet id = extract_features(model, *id_data, id_spec.first, batch, loader_threads, limit, progress,
                                   data_opts.skip_bad);
  std::vector<FeatureSet> oods;
  for (size_t i = 0; i < ood_data.size(); ++i)
    oods.push_back(extract_features(model, *ood_data[i], ood_specs[i].first, batch, loader_threads,
                                    limit, progress, data_opts.skip_bad));
  if (posthoc) return posthoc->run(id, oods, json);

  std::vector<HeadConfig> heads;
  HeadConfig base;
  base.score = method;
  base.clip = static_cast<float>(clip_value);
  base.label = method == "energy" ? "Energy" : "MSP";
  if (std::isfinite(clip_value)) base.label = "ReAct (" + base.label + ")";
  heads.push_back(base);
  if (use_dice) {
    HeadConfig d = base;
    d.mask = dm.mask;
    char buf[64];
    std::snprintf(buf, sizeof buf, "DICE (p=%g)", p);
    d.label = std::isfinite(clip_value) ? std::string(buf) + "+ReAct" : std::string(buf);
    if (method != "energy") d.label += " " + base.label;
    heads.push_back(d);
  }
  const auto t_scores = std::chrono::steady_clock::now();
  std::vector<EvalReport> reports;
  std::vector<ReportScores> report_scores;  // what the HTML report draws
  for (const HeadConfig& h : heads) {
    EvalReport r;
    r.method = h.label;
    r.id_name = id.name;
    r.id_count = id.count;
    HeadResult idr = apply_head(model, id, h);
    r.id_accuracy = accuracy(idr, id);
    ReportScores rs;
    if (!report_path.empty()) rs.id = idr.scores;
    std::vector<OodMetrics> all;
    for (const FeatureSet& o : oods) {
      HeadResult orr = apply_head(model, o, h);
      if (!report_path.empty()) rs.ood.push_back(orr.scores);
      OodSetResult s;
      s.name = o.name;
      s.count = o.count;
      s.metrics = compute_metrics(idr.scores, orr.scores);
      all.push_back(s.metrics);
      r.ood.push_back(s);
    }
    r.average = average_metrics(all);
    std::fprintf(tables, "\n");
    print_report(tables, r);
    reports.push_back(r);
    if (!report_path.empty()) report_scores.push_back(std::move(rs));
  }
  const auto t_done = std::chrono::steady_clock::now();
  if (!json.empty()) {
    // The requested configuration at the top level (id.accuracy, ood[i].fpr95, average.auroc,
    // ...); with --p the baseline computed in the same pass sits beside it under "baseline".
    Json top = Json::parse(report_json(reports.back()), "report");
    if (reports.size() > 1) top.set("baseline", Json::parse(report_json(reports.front()), "report"));
    std::string text = top.dump(2) + "\n";
    write_file_atomic(json, text.data(), text.size());
    if (json != "-") std::printf("wrote %s\n", json.c_str());
  }
  std::vector<std::pair<std::string, int64_t>> skipped{{id.name, int64_t(id.skipped.size())}};
  for (const FeatureSet& o : oods) skipped.emplace_back(o.name, int64_t(o.skipped.size()));
  print_skipped(skipped, tables);
  // Where the time went (the thread's waits per stage; see FeatureSet): gpu-check reads this line.
  double decode = id.decode_s, upload = id.upload_s, forward = id.forward_s;
  for (const FeatureSet& o : oods) decode += o.decode_s, upload += o.upload_s, forward += o.forward_s;
  const double scores = std::chrono::duration<double>(t_done - t_scores).count();
  if (!report_path.empty()) {
    ReportMeta meta;
    meta.command_line = shell_quoted(argc, argv);
    meta.model = model.name();
    meta.weights = weights;
    meta.weights_sha256 = sha256_file(weights);
    meta.device = describe_device(device, num_threads(), options);
    meta.precision = precision_name(options.precision);
    meta.datasets.emplace_back(id.name, id.count);
    for (const FeatureSet& o : oods) meta.datasets.emplace_back(o.name, o.count);
    meta.stages = {{"decode", decode}, {"upload", upload}, {"forward", forward}, {"scores", scores}};
    meta.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    meta.version = DICE_VERSION;
    meta.git_commit = DICE_GIT_COMMIT;
    write_report_html(report_path, meta, reports, report_scores);
    std::fprintf(tables, "wrote %s\n", report_path.c_str());
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(tables, "wall time: %.1f s\n", secs);
  std::fprintf(tables, "stages: decode %.2f s, upload %.2f s, forward %.2f s, scores %.2f s\n", decode,
               upload, forward, scores);
  return 0;
}

}  // namespace dice::cli
