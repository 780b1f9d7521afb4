// `dice`: the command-line front end. Dispatches to a subcommand and turns every dice::Error into
// one line on stderr and exit code 1 (2 for a missing or unknown command), so scripts can rely on
// the exit status.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "cli/commands.h"
#include "core/echo.h"
#include "core/error.h"
#include "dice_version.h"

namespace {

const char* kUsage =
    "usage: dice <command> [options]\n"
    "commands:\n"
    "  eval      OOD evaluation: Energy/MSP baseline and DICE tables (FPR95, AUROC, AUIN)\n"
    "  features  write penultimate features, logits and labels of a data set as .npy\n"
    "  score     post-hoc OOD methods (DICE, ReAct, ASH, KNN, ViM, ...) over cached features\n"
    "  convert   convert a PyTorch checkpoint (.pth/.pth.tar) to .safetensors\n"
    "  precompute  mean penultimate feature of a training set (DICE's statistics), shardable\n"
    "  random-weights  random weights in a real checkpoint's layout (benchmarks without one)\n"
    "run 'dice <command> --help' for its options; 'dice --version' for the version\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") ||
      !std::strcmp(argv[1], "help")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::printf("dice-cuda %s (commit %s)\n", DICE_VERSION, DICE_GIT_COMMIT);
    return 0;
  }
  // A file-size limit (ulimit -f) makes write() fail with EFBIG, reported with the file's name,
  // instead of killing the process and leaving a truncated temporary.
  std::signal(SIGXFSZ, SIG_IGN);
  std::string cmd = argv[1];
  try {
    if (cmd == "eval") return dice::cli::cmd_eval(argc, argv);
    if (cmd == "features") return dice::cli::cmd_features(argc, argv);
    if (cmd == "score") return dice::cli::cmd_score(argc, argv);
    if (cmd == "convert") return dice::cli::cmd_convert(argc, argv);
    if (cmd == "precompute") return dice::cli::cmd_precompute(argc, argv);
    if (cmd == "random-weights") return dice::cli::cmd_random_weights(argc, argv);
    std::fprintf(stderr, "dice: unknown command '%s'; see `dice --help`\n", dice::echo(cmd).c_str());
    return 2;
  } catch (const dice::Error& e) {
    // The pieces of outside text are escaped where the message is built; this is the backstop
    // that keeps any message one printable line.
    std::fprintf(stderr, "dice %s: error: %s\n", cmd.c_str(), dice::echo(e.what(), 600).c_str());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "dice %s: error: out of memory; lower --batch or --threads, or raise the memory limit\n",
                 cmd.c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dice %s: error: %s\n", cmd.c_str(), dice::echo(e.what(), 600).c_str());
    return 1;
  }
}
