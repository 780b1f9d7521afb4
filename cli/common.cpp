// Shared helpers of the subcommands (see common.h).
#include "cli/common.h"

#include <unistd.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cli/args.h"
#include "core/echo.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/limits.h"
#include "data/image.h"
#include "formats/npy.h"
#include "gpu/cuda_check.h"
#include "kernels/conv2d.h"
#include "nn/plan.h"
#include "weights/torch_checkpoint.h"

namespace dice::cli {

LoadedModel load_model(const std::string& arch, const std::string& weights_path, Device device,
                       const ModelOptions& options, bool keep_weights) {
  if (device == Device::kCpu) check_model_options("", device, options);
  check_device_available(device);
  LoadedModel lm;
  try {
    lm.weights = load_weights(weights_path);
  } catch (const std::bad_alloc&) {
    throw_error(echo(weights_path), ": out of memory reading the weights; lower DICE_MAX_INPUT_MB (now ",
                max_input_bytes() >> 20, " MB) to refuse such files, or raise the memory limit");
  }
  check_finite_weights(lm.weights, weights_path);
  lm.model = make_model(arch, lm.weights, device, options);
  if (!keep_weights) lm.weights = StateDict();
  return lm;
}

void print_profile(Model& model, int64_t batch) {
  const int64_t side = model.input_size();
  std::vector<float> x(static_cast<size_t>(batch * 3 * side * side)),
      f(static_cast<size_t>(batch * model.feature_dim()));
  uint32_t state = 12345;
  for (float& v : x) {  // uniform in [-2, 2): pre-processed images span about this range
    state = state * 1664525u + 1013904223u;
    v = static_cast<float>(state >> 8) * (4.0f / 16777216.0f) - 2.0f;
  }
  model.features(x.data(), batch, f.data());  // warm-up: memory, threads, graphs
  const std::vector<OpTime> ops = model.profile(x.data(), batch);
  if (ops.empty()) return;
  double total = 0;
  for (const OpTime& op : ops) total += op.ms;
  std::fprintf(stderr, "profile: %s, one forward at batch %lld: %.2f ms (%.1f images/s)\n",
               model.name().c_str(), static_cast<long long>(batch), total, 1e3 * static_cast<double>(batch) / total);
  for (size_t i = 0; i < ops.size(); ++i) {
    const OpTime& op = ops[i];
    std::fprintf(stderr, "  %3zu %-28s %9.3f ms %5.1f%%", i, op.name.c_str(), op.ms, 100 * op.ms / total);
    if (op.flops > 0 && op.ms > 0) std::fprintf(stderr, " %8.1f GFLOP/s", op.flops / op.ms * 1e-6);
    std::fputc('\n', stderr);
  }
}

void print_plan(const Model& model, int64_t batch) {
  if (const Plan* plan = model.plan()) std::fprintf(stderr, "%s", plan->describe(batch).c_str());
}

void apply_cpu_conv_option(const std::string& value) {
  if (value.empty()) return;
  set_cpu_conv_algo(parse_cpu_conv_algo(value.c_str(), "option --cpu-conv"));
}

ModelOptions model_options(const std::string& precision, const std::string& backend,
                           const std::string& layout) {
  ModelOptions o;
  if (layout != "auto" && layout != "nchw" && layout != "nhwc")
    throw_error("option --gpu-layout must be auto, nchw or nhwc, got '", layout, "'");
  o.layout = parse_gpu_layout(layout);
  if (precision != "fp32" && precision != "tf32" && precision != "fp16" && precision != "bf16" &&
      precision != "3xtf32")
    throw_error("option --precision must be fp32, tf32, fp16, bf16 or 3xtf32, got '", precision, "'");
  if (backend != "ours" && backend != "cudnn")
    throw_error("option --backend must be 'ours' or 'cudnn', got '", backend, "'");
  o.precision = parse_precision(precision);
  o.backend = parse_backend(backend);
  return o;
}

Device device_option(const std::string& value) {
  // "cuda:N" picks GPU N (PyTorch's spelling); plain "cuda" is the current device, 0 by default.
  int index = -1;
  const Device device = parse_device(value, &index);
  if (index >= 0) select_cuda_device(index);
  return device;
}

std::string describe_device(Device device, int threads, const ModelOptions& options) {
  std::string extra;
  if (options.precision != Precision::kFp32 || options.backend != Backend::kOurs)
    extra = std::string(", ") + precision_name(options.precision) + ", " + backend_name(options.backend);
  if (device == Device::kCuda)
    return "cuda:" + std::to_string(current_cuda_device()) + ", " + cuda_device_name(current_cuda_device()) + " (" + std::to_string(threads) + " decode threads)" + extra;
  return "cpu, " + std::to_string(threads) + " threads" + extra;
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
  std::vector<double> mean = npy_to_double(a, path);
  for (size_t i = 0; i < mean.size(); ++i)
    if (!std::isfinite(mean[i]))
      throw_error(echo(path), ": feature statistics hold ", mean[i], " at index ", i,
                  "; recompute them with dice precompute");
  return mean;
}

void note_inputs(const std::vector<std::string>& files, const std::vector<std::string>& specs) {
  for (const std::string& f : files)
    if (!f.empty()) note_input(f);
  for (const std::string& named : specs) {
    std::string spec = split_named_spec(named).second;
    if (spec.rfind("tensor:", 0) == 0) {
      spec = spec.substr(7);
      note_input(spec);
      if (spec.size() > 4 && spec.compare(spec.size() - 4, 4, ".npy") == 0)
        note_input(spec.substr(0, spec.size() - 4) + ".labels.npy");
    } else if (!spec.empty()) {
      note_input(spec);
    }
  }
}

std::unique_ptr<Dataset> open_data(const std::string& spec, const Preprocess& pp, const DatasetOptions& opts) {
  try {
    return open_dataset(spec, pp, opts);
  } catch (const std::bad_alloc&) {
    throw_error(echo(spec), ": out of memory opening the data set; lower DICE_MAX_INPUT_MB (now ",
                max_input_bytes() >> 20, " MB) to refuse such files, or raise the memory limit");
  }
}

std::vector<std::string> with_data_options(std::vector<std::string> value_options) {
  for (const char* o : {"labels", "decoder", "max-image-pixels"}) value_options.push_back(o);
  return value_options;
}

DataOptions data_options(const Args& args) {
  DataOptions o;
  o.dataset.labels = args.get("labels");
  o.skip_bad = args.has("skip-bad");
  std::string dec = args.get("decoder");
  if (dec.empty()) {
    const char* env = std::getenv("DICE_JPEG");
    dec = env && *env ? env : "stb";
    if (dec != "stb" && dec != "turbo")
      throw_error("environment variable DICE_JPEG must be 'stb' or 'turbo', got '", echo(dec), "'");
  }
  set_jpeg_decoder(parse_jpeg_decoder(dec));
  set_max_image_pixels(args.get_int("max-image-pixels", kDefaultMaxImagePixels, 1, int64_t(1) << 40));
  return o;
}

void print_skipped(const std::vector<std::pair<std::string, int64_t>>& per_set, std::FILE* out) {
  int64_t total = 0;
  std::string parts;
  for (const auto& [name, n] : per_set) {
    total += n;
    if (n) parts += (parts.empty() ? "" : ", ") + name + ": " + std::to_string(n);
  }
  if (total)
    std::fprintf(out, "skipped %lld unreadable file%s (%s); they are left out of every score\n",
                 static_cast<long long>(total), total == 1 ? "" : "s", parts.c_str());
}

std::string shell_quoted(int argc, char** argv) {
  std::string out;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    bool plain = !a.empty();
    for (char c : a)
      plain = plain && (std::isalnum(static_cast<unsigned char>(c)) || std::strchr("_./:=,+@%-", c));
    if (i) out += ' ';
    if (plain) {
      out += a;
      continue;
    }
    out += '\'';
    for (char c : a) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

}  // namespace dice::cli
