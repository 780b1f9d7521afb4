// `dice features`: penultimate features, logits (plain fc) and labels of a data set, as .npy
// files in data-set order, so any other tool (numpy, sklearn, the reference code) can compare.
// The three files are written only after the whole pass succeeded, as one set (core/file_set.h):
// with a manifest PREFIX.dice-set, so readers see the whole old set or the whole new one.
#include <cstdio>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "core/file_set.h"
#include "core/parallel.h"
#include "formats/npy.h"
#include "ood/evaluate.h"

namespace dice::cli {

int cmd_features(int argc, char** argv) {
  const char* usage =
      "usage: dice features --model densenet101 --weights CKPT --data SPEC --out PREFIX\n"
      "                     [--batch N] [--threads N] [--limit N] [--device cpu|cuda|cuda:N]\n"
      "                     [--precision fp32|tf32|fp16|bf16|3xtf32] [--backend ours|cudnn] [--gpu-layout auto|nchw|nhwc] [--verbose] [--profile]\n"
      "                     [--cpu-conv winograd|direct|winograd-all|winograd4-all]\n"
      "writes PREFIX.features.npy (N x D float32), PREFIX.logits.npy (N x C float32) and\n"
      "PREFIX.labels.npy (N int64; -1 for unlabeled sets).\n"
      "  [--labels FILE]       labels of a flat image folder ('<file name> <class index>' lines)\n"
      "  [--skip-bad]          skip undecodable files (warned; their rows are left out)\n"
      "  [--decoder stb|turbo] JPEG decoder (default: env DICE_JPEG, else stb)\n"
      "  [--max-image-pixels N] refuse larger images (default 178956970, PIL's error threshold)";
  Args args(argc, argv, 2, with_data_options({"model", "weights", "data", "out", "batch", "threads", "limit", "device", "precision", "backend", "gpu-layout", "cpu-conv"}),
            {"help", "quiet", "skip-bad", "verbose", "profile"}, usage);
  if (args.has("help")) {
    std::puts(usage);
    return 0;
  }
  const std::string weights = args.require("weights"), spec = args.require("data");
  const std::string prefix = args.require("out");
  const int64_t batch = args.get_int("batch", 128, 1, 1 << 16);
  const int64_t limit = args.get_int("limit", -1, 1, INT64_MAX);
  const Device device = device_option(args.get("device", "cpu"));
  const ModelOptions options = model_options(args.get("precision", "fp32"), args.get("backend", "ours"),
                                              args.get("gpu-layout", "auto"));
  set_num_threads(static_cast<int>(args.get_int("threads", 0, 0, 1024)));
  apply_cpu_conv_option(args.get("cpu-conv"));
  note_inputs({weights, args.get("labels")}, {spec});
  for (const char* suffix : {".features.npy", ".logits.npy", ".labels.npy", ".dice-set"})
    check_set_output(prefix + suffix);
  const DataOptions data_opts =
      data_options(args);

  LoadedModel lm = load_model(args.get("model", "auto"), weights, device, options);
  if (args.has("verbose")) print_plan(*lm.model, batch);
  if (args.has("profile")) print_profile(*lm.model, batch);
  DatasetOptions dataset_opts = data_opts.dataset;
  dataset_opts.num_classes = lm.model->num_classes();
  auto data = open_data(spec, preprocess_for(*lm.model), dataset_opts);
  FeatureSet fs = extract_features(*lm.model, *data, split_named_spec(spec).first, batch,
                                   num_threads(), limit, !args.has("quiet") && ::isatty(2),
                                   data_opts.skip_bad);
  HeadResult plain = apply_head(*lm.model, fs, HeadConfig{});
  const int64_t n = fs.count;
  write_npy_set(prefix, {{prefix + ".features.npy", npy_f32({n, fs.dim}, fs.features.data())},
                 {prefix + ".logits.npy", npy_f32({n, lm.model->num_classes()}, plain.logits.data())},
                 {prefix + ".labels.npy", npy_i64({n}, fs.labels.data())}});
  std::printf("wrote %s.{features,logits,labels}.npy (%lld samples, %lld features)\n", prefix.c_str(),
              static_cast<long long>(n), static_cast<long long>(fs.dim));
  print_skipped({{fs.name, static_cast<int64_t>(fs.skipped.size())}});
  return 0;
}

}  // namespace dice::cli
