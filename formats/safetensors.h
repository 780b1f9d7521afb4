// The safetensors format (Hugging Face): the project's own weight file, and a format users can
// bring. Generic: tensors are named byte blobs with a dtype string and a shape; weights/ turns
// them into dice::Tensor. The writer is atomic and produces files the reference Python/Rust
// implementation reads; the reader validates every offset against the file.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace dice {

struct SafeTensor {
  std::string dtype;           // "F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL"
  std::vector<int64_t> shape;  // [] for a scalar
  std::vector<uint8_t> data;   // little-endian element bytes, row-major
};

struct SafeTensorsFile {
  std::map<std::string, SafeTensor> tensors;
  std::map<std::string, std::string> metadata;  // the "__metadata__" string map
};

// Bytes per element of a safetensors dtype; 0 if the dtype is not one listed above.
size_t safetensors_dtype_size(const std::string& dtype);
// Cheap sniff: an 8-byte header length that fits the buffer, followed by '{'.
bool is_safetensors(const uint8_t* data, size_t size);

SafeTensorsFile parse_safetensors(const uint8_t* data, size_t size, const std::string& name);
SafeTensorsFile read_safetensors(const std::string& path);
std::vector<uint8_t> serialize_safetensors(const SafeTensorsFile& f, const std::string& name_for_errors);
void write_safetensors(const std::string& path, const SafeTensorsFile& f);

}  // namespace dice
