// Pieces the subcommands share: loading a model from a weight file on a device (--device cpu|cuda),
// the pre-processing a model expects, the feature statistics, and checking an output location before any work starts.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "data/transforms.h"
#include "nn/model.h"
#include "weights/state_dict.h"

namespace dice::cli {

struct LoadedModel {
  StateDict weights;
  std::unique_ptr<Model> model;
};

// Loads the weights and makes the model on `device` (checked before the weights are read, so
// `--device cuda` without a GPU fails at once with one line).
LoadedModel load_model(const std::string& arch, const std::string& weights_path,
                       Device device = Device::kCpu);
// The value of --device (default "cpu"), parsed.
Device device_option(const std::string& value);
// The report's device line, without the "device: " prefix: "cpu, 16 threads" or
// "cuda, NVIDIA H100 80GB HBM3 (16 decode threads)".
std::string describe_device(Device device, int threads);
Preprocess preprocess_for(const Model& model);
// Reads a (D,) .npy of the training-set feature mean; checks D against the model.
std::vector<double> load_feature_mean(const std::string& path, int64_t dim);
// Throws unless the folder that will hold `path` exists and is writable.
void check_output_folder(const std::string& path);

}  // namespace dice::cli
