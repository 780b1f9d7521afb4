// The `dice` subcommands; each parses its own options and returns the process exit code.
#pragma once

namespace dice::cli {

int cmd_eval(int argc, char** argv);
int cmd_features(int argc, char** argv);
int cmd_convert(int argc, char** argv);
int cmd_precompute(int argc, char** argv);
int cmd_score(int argc, char** argv);
int cmd_random_weights(int argc, char** argv);

}  // namespace dice::cli
