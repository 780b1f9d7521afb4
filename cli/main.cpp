// `dice`: the command-line front end. Dispatches to a subcommand and turns every dice::Error into
// one line on stderr and exit code 1 (2 for usage errors), so scripts can rely on the exit status.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "cli/commands.h"
#include "core/error.h"

namespace {

const char* kUsage =
    "usage: dice <command> [options]\n"
    "commands:\n"
    "  eval      OOD evaluation: Energy/MSP baseline and DICE tables (FPR95, AUROC, AUIN)\n"
    "  features  write penultimate features, logits and labels of a data set as .npy\n"
    "  score     post-hoc OOD methods (DICE, ReAct, ASH, KNN, ViM, ...) over cached features\n"
    "  convert   convert a PyTorch checkpoint (.pth/.pth.tar) to .safetensors\n"
    "  precompute  mean penultimate feature of a training set (DICE's statistics), shardable\n"
    "run 'dice <command> --help' for its options\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") ||
      !std::strcmp(argv[1], "help")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  std::string cmd = argv[1];
  try {
    if (cmd == "eval") return dice::cli::cmd_eval(argc, argv);
    if (cmd == "features") return dice::cli::cmd_features(argc, argv);
    if (cmd == "score") return dice::cli::cmd_score(argc, argv);
    if (cmd == "convert") return dice::cli::cmd_convert(argc, argv);
    if (cmd == "precompute") return dice::cli::cmd_precompute(argc, argv);
    std::fprintf(stderr, "dice: unknown command '%s'\n%s", cmd.c_str(), kUsage);
    return 2;
  } catch (const dice::Error& e) {
    std::fprintf(stderr, "dice %s: error: %s\n", cmd.c_str(), e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "dice %s: error: out of memory; try a smaller --batch\n", cmd.c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dice %s: error: %s\n", cmd.c_str(), e.what());
    return 1;
  }
}
