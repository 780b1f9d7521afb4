// MATLAB v5 (.mat, "-v6"/"-v7") files: a reader for the numeric arrays they hold and a small
// writer (used by tests to make SVHN-like files in the real format). SVHN's test_32x32.mat holds
//   X: uint8, dims (32, 32, 3, N)   y: double, dims (N, 1), label 10 meaning digit 0.
// Element order is MATLAB's column-major order, kept as stored: for dims (d0, d1, d2, d3) element
// (i0, i1, i2, i3) is at i0 + d0*(i1 + d1*(i2 + d2*i3)). So in SVHN's X(h, w, c, n), pixel
// (row r, column c, channel k) of image n is byte r + 32*c + 1024*k + 3072*n (a 32x32x3 image is
// stored transposed with respect to the usual row-major HWC: rows vary fastest).
//
// Supported: both byte orders ('IM'/'MI'), the small data element format, miCOMPRESSED (zlib)
// elements, and real numeric arrays of every class (double, single, [u]int8/16/32/64; logical
// reads as uint8). MATLAB stores numeric data in the smallest type that holds it exactly (a double
// array of small integers is often stored as miUINT8); data is converted to the array's class.
// Other variables (cell, struct, char, sparse, complex, objects) are listed with decoded = false and
// no data, so a file holding them alongside X and y still reads. v4 and v7.3 (HDF5) files are
// refused with a message saying how to re-save.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace dice {

struct MatArray {
  std::string name;
  std::string class_name;     // MATLAB class: "double", "single", "uint8", "int32", ..., "cell", ...
  std::vector<int64_t> dims;  // MATLAB dimensions (at least 2)
  std::vector<uint8_t> data;  // column-major elements of class_name's type, little-endian
  bool decoded = true;        // false: a variable of an unsupported kind (data empty)

  int64_t numel() const;
};

// Bytes per element of a numeric class name ("double" -> 8); 0 for anything else.
size_t mat_class_size(const std::string& class_name);

// Every top-level variable, in file order. Throws dice::Error naming the file when the bytes are
// not a valid v5 MAT-file (truncated, bad tags, sizes that do not fit, zlib errors).
std::vector<MatArray> read_mat(const std::string& path);
std::vector<MatArray> parse_mat(const uint8_t* bytes, size_t size, const std::string& name);

// The decoded variable `var` of a file's arrays; throws naming `path` and the variables present.
const MatArray& mat_find(const std::vector<MatArray>& arrays, const std::string& var,
                         const std::string& path);
// Elements of a decoded numeric array as double (exact for every class but [u]int64 > 2^53).
std::vector<double> mat_to_double(const MatArray& a, const std::string& path);

// Writer: a v5 MAT-file of numeric arrays (decoded, data size = numel * class size), each one a
// miMATRIX element, wrapped in a zlib miCOMPRESSED element when `compressed`. Names of up to 4
// bytes use the small data element format, as MATLAB does. With `big_endian` the file is written
// in 'MI' byte order; with `narrow_integers` a double array whose values are all integers in
// 0..255 is stored as miUINT8, as MATLAB does (both exist to exercise the reader).
std::vector<uint8_t> serialize_mat_v5(const std::vector<MatArray>& arrays, bool compressed,
                                      bool big_endian = false, bool narrow_integers = false);
void write_mat_v5(const std::string& path, const std::vector<MatArray>& arrays, bool compressed);

}  // namespace dice
