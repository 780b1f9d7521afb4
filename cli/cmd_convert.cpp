// `dice convert IN OUT.safetensors`: reads a PyTorch checkpoint without PyTorch (zip or legacy
// serialization; only tensor data, never code) and writes safetensors, the format other tools
// read, with the architecture recorded in __metadata__. The network is built from the weights
// first, so a file that would not load as a model is refused before anything is written.
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "core/file_io.h"
#include "nn/plan.h"
#include "weights/torch_checkpoint.h"

namespace dice::cli {

int cmd_convert(int argc, char** argv) {
  const char* usage =
      "usage: dice convert IN.pth OUT.safetensors [--model auto|densenet101|resnet50|wrn40_2|...]\n"
      "converts a PyTorch checkpoint (zip or legacy format) to safetensors";
  Args args(argc, argv, 2, {"model"}, {"help"}, usage);
  if (args.has("help")) {
    std::puts(usage);
    return 0;
  }
  if (args.positional().size() != 2) args.usage_error("expected IN and OUT");
  const std::string in = args.positional()[0], out = args.positional()[1];
  if (out.size() < 12 || out.compare(out.size() - 12, 12, ".safetensors") != 0)
    throw_error(out, ": the output name must end in .safetensors");
  note_inputs({in}, {});
  check_output(out);
  LoadedModel lm = load_model(args.get("model", "auto"), in, Device::kCpu, {}, /*keep_weights=*/true);
  StateDict& sd = lm.weights;
  sd.metadata["format"] = "dice-cuda weights 1";
  sd.metadata["architecture"] = detect_architecture(sd);
  sd.metadata["model"] = lm.model->name();
  sd.metadata["num_classes"] = std::to_string(lm.model->num_classes());
  sd.metadata["feature_dim"] = std::to_string(lm.model->feature_dim());
  if (const Plan* plan = lm.model->plan(); plan && plan->family == "densenet") {
    sd.metadata["depth"] = std::to_string(plan->fact("depth"));
    sd.metadata["growth"] = std::to_string(plan->fact("growth"));
  }
  size_t slash = in.find_last_of('/');
  sd.metadata["source"] = slash == std::string::npos ? in : in.substr(slash + 1);
  save_safetensors(sd, out);
  std::printf("wrote %s: %s, %zu tensors\n", out.c_str(), lm.model->name().c_str(), sd.tensors.size());
  return 0;
}

}  // namespace dice::cli
