// NumPy .npy arrays: read (format versions 1, 2 and 3) and write (version 1, or 2 when the header
// needs it). Only little-endian, C-order arrays of the dtypes this project exchanges are accepted
// ('<f4', '<f8', '<f2', '<i4', '<i8', '|u1', '|i1', '|b1'); big-endian data and fortran_order=True are refused with a
// message saying how to re-save the array, rather than silently reordered.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace dice {

struct NpyArray {
  std::string descr;           // numpy dtype string, e.g. "<f4"
  std::vector<int64_t> shape;  // () for a scalar
  std::vector<uint8_t> data;   // raw little-endian element bytes, C order

  int64_t numel() const;
};

// Bytes per element of a supported descr; throws for anything else (naming `name`).
size_t npy_item_size(const std::string& descr, const std::string& name);

NpyArray read_npy(const std::string& path);
// Parses an .npy image in memory; `name` is used in error messages (a path or "x.npz:member").
NpyArray parse_npy(const uint8_t* bytes, size_t size, const std::string& name);
std::vector<uint8_t> serialize_npy(const NpyArray& a, const std::string& name_for_errors);

// Atomic writes (temporary file, then rename).
void write_npy(const std::string& path, const NpyArray& a);
void write_npy_f32(const std::string& path, const std::vector<int64_t>& shape, const float* data);
void write_npy_f64(const std::string& path, const std::vector<int64_t>& shape, const double* data);
void write_npy_i64(const std::string& path, const std::vector<int64_t>& shape, const int64_t* data);
// Several files as one set under `prefix` (core/file_set.h): readers see all of the old set or
// all of the new one, whatever fails or is killed.
void write_npy_set(const std::string& prefix, const std::vector<std::pair<std::string, NpyArray>>& files);

// Typed arrays from host data (copied).
NpyArray npy_f32(const std::vector<int64_t>& shape, const float* data);
NpyArray npy_f64(const std::vector<int64_t>& shape, const double* data);
NpyArray npy_i64(const std::vector<int64_t>& shape, const int64_t* data);

// Element conversions of any supported numeric dtype; `path` names the array in errors.
std::vector<double> npy_to_double(const NpyArray& a, const std::string& path);
std::vector<float> npy_to_float(const NpyArray& a, const std::string& path);

}  // namespace dice
