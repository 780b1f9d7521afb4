// StateDict: named float32 tensors plus string metadata, the in-memory form of every weight file
// the project reads (torch zip/legacy checkpoints, safetensors). nn/ looks tensors up with at(),
// whose errors name the file, the key and what to do, so a wrong checkpoint fails with one
// readable line instead of a crash deep inside a layer.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace dice {

struct StateDict {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;
  std::string source;  // the file it came from (for error messages)

  bool has(const std::string& key) const { return tensors.count(key) != 0; }
  // Throws dice::Error naming source and key (with near-miss keys) when absent.
  const Tensor& at(const std::string& key) const;
  // Also checks the shape; the message gives the expected and the found shape.
  const Tensor& at(const std::string& key, const std::vector<int64_t>& shape) const;
};

std::string shape_to_string(const std::vector<int64_t>& shape);  // "(24, 3, 3, 3)"

// Reads any supported weight file, detected by its first bytes: a torch zip checkpoint, a torch
// legacy checkpoint, or safetensors. Anything else is an error naming the file and the formats.
StateDict load_weights(const std::string& path);
// Throws naming the file, the tensor and the index at the first NaN or Inf: a network built from
// such weights would only show NaN scores after a whole pass. (The readers themselves keep
// non-finite values: a file may hold them on purpose.)
void check_finite_weights(const StateDict& sd, const std::string& path);

// Writes the tensors as F32 and the metadata as "__metadata__" (atomic). load_weights reads it
// back with identical tensors and metadata.
void save_safetensors(const StateDict& sd, const std::string& path);

}  // namespace dice
