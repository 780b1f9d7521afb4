// Absolute bounds on the memory one input may make the tool allocate. The parsers' own checks
// bound expansion relative to a file's size (deflate's 1032:1, a checkpoint's storages), which
// still lets a 490 kB checkpoint or a 4 MB .mat file claim gigabytes; these caps are stated in
// bytes, with an environment variable to raise them for a genuine large file:
//   DICE_MAX_INPUT_MB  (default 2048)  bytes one input file may be or materialise: the file
//                      itself, inflated zip members and .mat elements, float32 tensors gathered
//                      from a checkpoint's storages, a safetensors header's parsed values.
//   DICE_DECODE_MB     (default 3072)  the estimated memory of all images being decoded at once,
//                      shared by the loader threads (data/decode_budget.h).
// A malformed value is an error naming the variable.
#pragma once
#include <cstdint>
#include <string>

namespace dice {

uint64_t max_input_bytes();
uint64_t decode_budget_bytes();
// Throws "NAME: WHAT needs N MB, over the limit of M MB (DICE_MAX_INPUT_MB); raise it if ...".
[[noreturn]] void throw_input_limit(const std::string& name, const std::string& what,
                                    uint64_t bytes);

}  // namespace dice
