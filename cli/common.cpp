// Shared helpers of the subcommands (see common.h).
#include "cli/common.h"

#include <unistd.h>

#include "core/error.h"
#include "core/file_io.h"
#include "formats/npy.h"
#include "kernels/cuda_check.h"
#include "weights/torch_checkpoint.h"

namespace dice::cli {

LoadedModel load_model(const std::string& arch, const std::string& weights_path, Device device) {
  check_device_available(device);
  LoadedModel lm;
  lm.weights = load_weights(weights_path);
  lm.model = make_model(arch, lm.weights, device);
  return lm;
}

Device device_option(const std::string& value) {
  if (value != "cpu" && value != "cuda")
    throw_error("option --device must be 'cpu' or 'cuda', got '", value, "'");
  return parse_device(value);
}

std::string describe_device(Device device, int threads) {
  if (device == Device::kCuda)
    return "cuda, " + cuda_device_name(0) + " (" + std::to_string(threads) + " decode threads)";
  return "cpu, " + std::to_string(threads) + " threads";
}

Preprocess preprocess_for(const Model& model) {
  return model.input_size() == 32 ? Preprocess::cifar() : Preprocess::imagenet();
}

std::vector<double> load_feature_mean(const std::string& path, int64_t dim) {
  NpyArray a = read_npy(path);
  if (a.shape.size() != 1 || a.shape[0] != dim)
    throw_error(path, ": feature statistics must have shape (", dim, ",) for this model, got ",
                a.shape.size() == 1 ? "(" + std::to_string(a.shape[0]) + ",)" : "another shape",
                "; use the file made for this network (e.g. cache/CIFAR-10_densenet_feat_stat.npy)");
  return npy_to_double(a, path);
}

void check_output_folder(const std::string& path) {
  size_t slash = path.find_last_of('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  if (!is_directory(dir)) throw_error(path, ": folder ", dir, " does not exist; create it first");
  if (::access(dir.c_str(), W_OK) != 0) throw_error(path, ": folder ", dir, " is not writable");
}

}  // namespace dice::cli
