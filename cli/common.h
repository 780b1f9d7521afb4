// Pieces the subcommands share: loading a model from a weight file on a device (--device cpu|cuda,
// with --precision fp32|tf32|fp16|bf16|3xtf32 and --backend ours|cudnn on the GPU),
// the pre-processing a model expects, the feature statistics, and checking an output location before any work starts.
#pragma once
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/args.h"
#include "data/dataset.h"
#include "data/transforms.h"
#include "nn/model.h"
#include "weights/state_dict.h"

namespace dice::cli {

struct LoadedModel {
  StateDict weights;  // empty unless load_model was asked to keep it
  std::unique_ptr<Model> model;
};

// Loads the weights and makes the model on `device` (checked before the weights are read, so
// `--device cuda` without a GPU fails at once with one line).
// `options` that cannot run on `device` fail the same way, before the weights are read where the
// architecture does not matter. The StateDict is freed once the model holds its weights (they
// then live once in memory), unless `keep_weights` (dice convert writes it back out).
LoadedModel load_model(const std::string& arch, const std::string& weights_path,
                       Device device = Device::kCpu, const ModelOptions& options = {},
                       bool keep_weights = false);
// --verbose: the model's plan (its steps with their shapes, parameters and the activation memory
// of `batch`) on stderr before anything runs; nothing for a model without a plan.
void print_plan(const Model& model, int64_t batch);
// --profile: one forward at `batch` on random input, after a warm-up, with every step of the plan
// timed (wall clock on the CPU, CUDA events on the GPU), printed on stderr with its GFLOP/s and
// share of the total: where a model's time goes, before anything else runs.
void print_profile(Model& model, int64_t batch);
// The values of --precision (default "fp32") and --backend (default "ours"), parsed.
// --gpu-layout (default "auto") picks how our fp16/bf16 GPU kernels hold activations (nn/model.h).
ModelOptions model_options(const std::string& precision, const std::string& backend,
                           const std::string& layout = "auto");
// Applies --cpu-conv direct|winograd|winograd-all|winograd4-all (kernels/conv2d.h) when given; before the
// model is built, so its weights are packed for the chosen algorithm.
void apply_cpu_conv_option(const std::string& value);
// The value of --device (default "cpu"), parsed.
Device device_option(const std::string& value);
// The report's device line, without the "device: " prefix: "cpu, 16 threads" or
// "cuda, NVIDIA H100 80GB HBM3 (16 decode threads)".
// With non-default options the precision and backend follow: "cuda, NVIDIA H100 ..., fp16, ours".
std::string describe_device(Device device, int threads, const ModelOptions& options = {});
Preprocess preprocess_for(const Model& model);
// The command line as one string a shell reads back the same: an argument with characters other
// than letters, digits and _./:=,+@%- is single-quoted (reports record how they were made).
std::string shell_quoted(int argc, char** argv);
// Reads a (D,) .npy of the training-set feature mean; checks D against the model.
std::vector<double> load_feature_mean(const std::string& path, int64_t dim);
// Notes the run's input files and the files its data specs read (tensor:X.npy and X.labels.npy,
// a CIFAR or .mat file) as inputs (core/file_io.h), so that check_output refuses an output that
// would replace one. Empty strings are ignored.
void note_inputs(const std::vector<std::string>& files, const std::vector<std::string>& specs);

// The data options of eval/features/precompute: --labels FILE (ground truth of a flat image
// folder such as ILSVRC-2012 val), --skip-bad, --decoder stb|turbo (empty: the environment
// variable DICE_JPEG, else stb) and --max-image-pixels N (PIL's 178956970 by default); the last
// two are applied process-wide here.
struct DataOptions {
  DatasetOptions dataset;
  bool skip_bad = false;
};
DataOptions data_options(const Args& args);
// open_dataset, with running out of memory reported as an error naming the spec and the limit.
std::unique_ptr<Dataset> open_data(const std::string& spec, const Preprocess& pp, const DatasetOptions& opts);
// A command's value options plus the ones data_options reads.
std::vector<std::string> with_data_options(std::vector<std::string> value_options);
// "skipped 2 unreadable files (imagenet: 2)" after a --skip-bad run; nothing if none was skipped.
void print_skipped(const std::vector<std::pair<std::string, int64_t>>& per_set, std::FILE* out = stdout);

}  // namespace dice::cli
