// `dice score`: post-hoc OOD methods over cached features (the files `dice features` writes), so
// the network runs once per data set and every method is fitted and scored in milliseconds to
// seconds. Everything a user can get wrong (specs, missing --train, files of another network) is
// checked before the first method is fitted; --json is written only when the run succeeds.
// `dice eval --method SPEC` runs the same methods on the features it has just extracted
// (eval_methods.h, at the end of this file).
#include <sys/stat.h>

#include <chrono>
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/eval_methods.h"
#include "cli/common.h"
#include "core/echo.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/parallel.h"
#include "ood/method.h"
#include "ood/posthoc_eval.h"
#include "ood/posthoc_report.h"
#include "weights/state_dict.h"

namespace dice::cli {
namespace {

const char* kScoreUsage =
    "usage: dice score --weights W [--feat-stat NPY] [--train PREFIX] --id NAME=PREFIX\n"
    "                  --ood NAME=PREFIX [--ood ...] --method SPEC [--method SPEC ...]\n"
    "                  [--sweep SPEC] [--val-ood NAME=PREFIX] [--json OUT.json] [--threads N]\n"
    "                  [--device cpu|cuda|cuda:N]   (cuda: KNN/NNGuide similarity tiles on the GPU)\n"
    "PREFIX: what `dice features --out PREFIX` wrote (PREFIX.features.npy, .labels.npy,\n"
    "        .logits.npy). --weights gives the fc layer; --train the set methods fit on;\n"
    "        --feat-stat DICE's mean (else the train mean).\n"
    "SPEC: name or name:key=value[,key=value]; methods and defaults: msp, maxlogit, energy:T=1,\n"
    "      dice:p=90, react:percentile=90 (or clip=), dice_react:p=90,percentile=90 (or clip=),\n"
    "      ash_p, ash_b, ash_s:percentile=90, scale:percentile=85, gen:gamma=0.1,M=min(100,C),\n"
    "      gradnorm:T=1, knn:k=50, mahalanobis, vim:dim=auto, rmds, fdbd, nnguide:k=100.\n"
    "--sweep name:key=START:STOP:STEP (e.g. dice:p=10:99:1) scores every point; with --val-ood\n"
    "      the point is chosen by AUROC on that set and only it is scored on the --ood sets.";

// The files of a `dice features` set under PREFIX, noted as inputs that no output may replace.
void note_feature_set(const std::string& prefix) {
  std::vector<std::string> files;
  for (const char* suffix : {".features.npy", ".logits.npy", ".labels.npy", ".dice-set"})
    files.push_back(prefix + suffix);
  note_inputs(files, {});
}

void write_json(const std::string& path, const IdSummary& id,
                const std::vector<MethodResult>& results, const SweepResult* sweep) {
  const std::string text = score_json(id, results, sweep);
  write_file_atomic(path, text.data(), text.size());
  if (path != "-") std::printf("wrote %s\n", path.c_str());
}

FcLayer load_fc(const std::string& path) {
  const StateDict sd = load_weights(path);
  const Tensor& w = sd.at("fc.weight");
  if (w.dim() != 2)
    throw_error(echo(path), ": fc.weight has shape ", w.shape_str(), ", expected (classes, features)");
  const Tensor& b = sd.at("fc.bias", {w.size(0)});
  FcLayer fc;
  fc.classes = w.size(0);
  fc.dim = w.size(1);
  fc.weight = w.data;
  fc.bias = b.data;
  return fc;
}

}  // namespace

int cmd_score(int argc, char** argv) {
  Args args(argc, argv, 2,
            {"weights", "feat-stat", "train", "id", "ood...", "method...", "sweep", "val-ood", "json",
             "threads", "device"},
            {"help"}, kScoreUsage);
  if (args.has("help")) {
    std::puts(kScoreUsage);
    return 0;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const std::string weights = args.require("weights");
  if (!args.has("id")) args.usage_error("missing --id NAME=PREFIX (the in-distribution test set)");
  if (!args.has("ood")) args.usage_error("missing --ood NAME=PREFIX (at least one OOD set)");
  if (!args.has("method") && !args.has("sweep"))
    args.usage_error("missing --method SPEC (or --sweep SPEC); e.g. --method energy --method dice:p=90");
  if (args.has("val-ood") && !args.has("sweep"))
    args.usage_error("--val-ood selects a --sweep point; add --sweep name:key=START:STOP:STEP");
  if (args.has("val-ood")) {  // never tuned on a test set: the validation set must be another file
    const auto same_file = [](const std::string& a, const std::string& b) {
      struct stat sa, sb;
      return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev &&
             sa.st_ino == sb.st_ino;
    };
    const std::string val = split_named_spec(args.get("val-ood")).second + ".features.npy";
    for (const std::string& o : args.all("ood"))
      if (same_file(val, split_named_spec(o).second + ".features.npy"))
        args.usage_error("--val-ood ", echo(args.get("val-ood")), " is also a test --ood set; choose "
                         "the sweep point on a separate validation set");
  }
  const std::string json = args.get("json");
  note_inputs({weights, args.get("feat-stat")}, {});  // every file read: --json may not replace it
  std::vector<std::string> prefixes = args.all("ood");
  for (const char* o : {"train", "id", "val-ood"})
    if (args.has(o)) prefixes.push_back(args.get(o));
  for (const std::string& named : prefixes) note_feature_set(split_named_spec(named).second);
  if (!json.empty()) check_output(json);
  set_num_threads(static_cast<int>(args.get_int("threads", 0, 0, 1024)));
  const Device device = device_option(args.get("device", "cpu"));
  check_device_available(device);

  const FcLayer fc = load_fc(weights);
  std::vector<MethodSpec> specs;
  for (const std::string& s : args.all("method")) specs.push_back(parse_method_spec(s, fc.classes, fc.dim));
  SweepSpec sweep;
  if (args.has("sweep")) sweep = parse_sweep_spec(args.get("sweep"), fc.classes, fc.dim);
  std::vector<MethodSpec> all = specs;
  if (args.has("sweep")) all.push_back(sweep.at(sweep.values[0], fc.classes, fc.dim));
  for (const MethodSpec& s : all)
    if (method_needs_train(s) && !args.has("train"))
      throw_error("method '", s.label(), "' fits on the training set: add --train PREFIX (the "
                  "files `dice features --out PREFIX` wrote for the training data)");

  std::vector<double> feat_stat;
  if (args.has("feat-stat")) feat_stat = load_feature_mean(args.get("feat-stat"), fc.dim);
  CachedFeatures train;
  if (args.has("train")) train = load_cached_features(args.get("train"), "train", fc);
  const auto id_spec = split_named_spec(args.get("id"));
  const CachedFeatures id = load_cached_features(id_spec.second, id_spec.first, fc);
  std::vector<CachedFeatures> oods;
  for (const std::string& s : args.all("ood")) {
    const auto named = split_named_spec(s);
    oods.push_back(load_cached_features(named.second, named.first, fc));
  }
  CachedFeatures val;
  if (args.has("val-ood")) {
    const auto named = split_named_spec(args.get("val-ood"));
    val = load_cached_features(named.second, named.first, fc);
  }
  const double load_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  FitInputs fit;
  fit.fc = &fc;
  fit.train = args.has("train") ? &train : nullptr;
  fit.feat_stat = args.has("feat-stat") ? &feat_stat : nullptr;
  fit.cuda = device == Device::kCuda;
  const auto t_fit = std::chrono::steady_clock::now();
  std::vector<MethodResult> results;
  for (const MethodSpec& s : specs) results.push_back(evaluate_method(s, fit, id, oods));
  SweepResult sw;
  if (args.has("sweep")) {
    sw = run_sweep(sweep, fit, id, oods, args.has("val-ood") ? &val : nullptr);
    if (sw.selected >= 0)
      results.push_back(evaluate_method(sweep.at(sw.points[sw.selected].value, fc.classes, fc.dim),
                                        fit, id, oods));
  }
  const double score_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_fit).count();

  IdSummary ids{id.name, id.count, plain_accuracy(id, fc.classes)};
  if (args.has("sweep")) {
    print_sweep_table(stdout, sw, args.has("val-ood") ? val.name : std::string());
    std::printf("\n");
  }
  if (!results.empty()) print_method_table(stdout, ids, results);
  for (const MethodResult& r : results) std::printf("  %s: %.3f s\n", r.name.c_str(), r.seconds);
  if (!json.empty()) write_json(json, ids, results, args.has("sweep") ? &sw : nullptr);
  std::printf("wall time: %.2f s (loading %.2f s, fitting and scoring %.2f s)\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), load_s,
              score_s);
  return 0;
}

// --- dice eval --method SPEC (eval_methods.h) ---------------------------------------------------

bool eval_wants_methods(const Args& args) {
  const std::vector<std::string> m = args.all("method");
  return m.size() > 1 || (m.size() == 1 && m[0] != "energy" && m[0] != "msp");
}

EvalMethods::EvalMethods(const Args& args, const Model& model, bool cuda) : cuda_(cuda) {
  if (args.has("p") || args.has("clip") || args.has("report"))
    args.usage_error("--p, --clip and --report go with the classic --method energy|msp; with method "
                     "specs write --method dice:p=90, --method react:clip=1 (see `dice score`)");
  fc_.classes = model.num_classes();
  fc_.dim = model.feature_dim();
  fc_.weight = model.fc_weight().data;
  fc_.bias = model.fc_bias().data;
  for (const std::string& s : args.all("method"))
    specs_.push_back(parse_method_spec(s, fc_.classes, fc_.dim));
  has_train_ = args.has("train");
  if (has_train_) {  // eval noted its other inputs before checking --json; now these too
    note_feature_set(args.get("train"));
    if (args.has("json")) check_output(args.get("json"));
  }
  for (const MethodSpec& s : specs_)
    if (method_needs_train(s) && !has_train_)
      args.usage_error("method '", s.label(), "' fits on the training set: add --train PREFIX (what "
                       "`dice features --out PREFIX` wrote for the training data)");
  if (has_train_) train_ = load_cached_features(args.get("train"), "train", fc_);
  has_feat_stat_ = args.has("feat-stat");
  if (has_feat_stat_) feat_stat_ = load_feature_mean(args.get("feat-stat"), fc_.dim);
}

int EvalMethods::run(const FeatureSet& id_set, const std::vector<FeatureSet>& ood_sets,
                     const std::string& json) const {
  const auto cached = [&](const FeatureSet& f) {
    CachedFeatures c;
    c.name = f.name;
    c.count = f.count;
    c.dim = f.dim;
    c.features = f.features;
    c.labels = f.labels;
    c.logits = fc_logits(fc_, c.features.data(), c.count);
    return c;
  };
  const CachedFeatures id = cached(id_set);
  std::vector<CachedFeatures> oods;
  for (const FeatureSet& o : ood_sets) oods.push_back(cached(o));
  FitInputs fit{&fc_, has_train_ ? &train_ : nullptr, has_feat_stat_ ? &feat_stat_ : nullptr, cuda_};
  std::vector<MethodResult> results;
  for (const MethodSpec& s : specs_) results.push_back(evaluate_method(s, fit, id, oods));
  const IdSummary ids{id.name, id.count, plain_accuracy(id, fc_.classes)};
  std::printf("\n");
  print_method_table(stdout, ids, results);
  if (!json.empty()) write_json(json, ids, results, nullptr);
  return 0;
}

}  // namespace dice::cli
