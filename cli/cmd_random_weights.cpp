// `dice random-weights --model NAME --out OUT.safetensors`: a weight file with random values in
// the exact key layout and shapes of a real checkpoint (nn/random_weights.h; BatchNorm statistics
// random too), so that speed and memory can be measured, and every command tried, where the
// real checkpoint is not at hand. The file is built into a network before it is written, so what
// it holds is what `--model NAME` accepts.
#include <cstdint>
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "core/file_io.h"
#include "nn/model.h"
#include "nn/random_weights.h"

namespace dice::cli {
namespace {

// "densenet101" -> 100, "resnet50" -> 50, "wrn40_2" -> {40, 2}: the number after `prefix`, or -1.
int64_t number_after(const std::string& name, const std::string& prefix, size_t* end = nullptr) {
  if (name.rfind(prefix, 0) != 0 || name.size() == prefix.size()) return -1;
  size_t i = prefix.size();
  int64_t v = 0;
  while (i < name.size() && name[i] >= '0' && name[i] <= '9' && v < 100000) v = v * 10 + (name[i++] - '0');
  if (i == prefix.size()) return -1;
  if (end) *end = i;
  else if (i != name.size()) return -1;
  return v;
}

StateDict random_weights(const std::string& name, int64_t classes, uint64_t seed) {
  const char* known = "densenetN (N = 6k+5: densenet101), resnet50/101/152, wrnD_W (D = 6k+4: wrn40_2, wrn28_10)";
  if (const int64_t n = number_after(name, "densenet"); n >= 11 && (n - 5) % 6 == 0)
    return random_densenet_state_dict(n - 1, 12, classes, seed);
  const int64_t r = number_after(name, "resnet");
  if (r == 50) return random_resnet_state_dict({3, 4, 6, 3}, 64, classes, seed);
  if (r == 101) return random_resnet_state_dict({3, 4, 23, 3}, 64, classes, seed);
  if (r == 152) return random_resnet_state_dict({3, 8, 36, 3}, 64, classes, seed);
  size_t end = 0;
  if (const int64_t d = number_after(name, "wrn", &end); d >= 10 && (d - 4) % 6 == 0 && end < name.size() &&
                                                          name[end] == '_') {
    const int64_t w = number_after(name.substr(end + 1), "");
    if (w >= 1 && w <= 64) return random_wideresnet_state_dict(d, w, classes, seed);
  }
  throw_error("--model '", name, "': no random weights for it; known: ", known);
}

}  // namespace

int cmd_random_weights(int argc, char** argv) {
  const char* usage =
      "usage: dice random-weights --model NAME --out OUT.safetensors [--classes C] [--seed S]\n"
      "writes random weights in the key layout and shapes of a real checkpoint, for benchmarks\n"
      "and trials without one. NAME: densenet101 (any densenetN, N = 6k+5, growth 12),\n"
      "resnet50/101/152, wrn40_2/wrn28_10 (any wrnD_W, D = 6k+4). C defaults to 10 for\n"
      "densenet and wrn, 1000 for resnet.";
  Args args(argc, argv, 2, {"model", "out", "classes", "seed"}, {"help"}, usage);
  if (args.has("help")) {
    std::puts(usage);
    return 0;
  }
  if (!args.positional().empty()) args.usage_error("unexpected argument '" + args.positional()[0] + "'");
  const std::string name = args.require("model"), out = args.require("out");
  if (out.size() < 12 || out.compare(out.size() - 12, 12, ".safetensors") != 0)
    throw_error(out, ": the output name must end in .safetensors");
  const int64_t classes = args.get_int("classes", name.rfind("resnet", 0) == 0 ? 1000 : 10, 1, 100000);
  const uint64_t seed = static_cast<uint64_t>(args.get_int("seed", 1, 0, INT64_MAX));
  check_output(out);
  StateDict sd = random_weights(name, classes, seed);
  sd.source = out;
  const std::string model = make_model(name, sd)->name();  // what it holds is what --model accepts
  sd.metadata["format"] = "dice-cuda weights 1";
  sd.metadata["architecture"] = detect_architecture(sd);
  sd.metadata["model"] = model;
  sd.metadata["source"] = "dice random-weights --model " + name + " --seed " + std::to_string(seed);
  save_safetensors(sd, out);
  std::printf("wrote %s: %s, random weights (seed %llu), %zu tensors\n", out.c_str(), model.c_str(),
              static_cast<unsigned long long>(seed), sd.tensors.size());
  return 0;
}

}  // namespace dice::cli
