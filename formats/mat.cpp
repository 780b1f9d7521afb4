// MATLAB v5 MAT-file reader and writer (see mat.h for what is supported and the element order).
//
// File layout (all integers in the file's byte order, given by the header):
//   header, 128 bytes: [0,116) descriptive text starting "MATLAB 5.0 MAT-file",
//     [116,124) subsystem data offset (ignored), [124,126) version 0x0100,
//     [126,128) endian indicator: the characters 'I','M' for little-endian files, 'M','I' for
//     big-endian ones (it is the u16 'MI' written in the writer's byte order).
//   then data elements until the end of the file. A data element is
//     tag: u32 type, u32 byte count; data; zero padding to a multiple of 8 bytes, or
//     small element (data of 1..4 bytes): u32 whose high 16 bits are the byte count and low 16
//       bits the type, then 4 bytes holding the data (8 bytes in total).
//     miCOMPRESSED (15) holds a zlib stream that inflates to one data element; it is not padded.
//   miMATRIX (14) holds sub-elements in this order:
//     array flags: miUINT32, 8 bytes: u32 flags (bits 0-7 class, 0x0800 complex, 0x0400 global,
//       0x0200 logical), u32 nzmax (sparse only);
//     dimensions: miINT32 array (at least 2 entries);
//     array name: miINT8 characters (small element when 4 bytes or fewer);
//     real part: numeric data element whose type may be narrower than the class (see mat.h);
//     imaginary part (complex only); cells/structs/sparse have other layouts and are not decoded.
//
// Safety: every read goes through ByteReader (bounds-checked); an array's element count must
// equal the data element's byte count / element size before anything is allocated, and a
// compressed element inflates into a buffer that grows only as zlib produces output, capped at
// deflate's maximum ratio (1032:1) times the compressed size and at 4 GiB + 8 (a u32 byte count);
// and absolutely, all that one file materialises stays within DICE_MAX_INPUT_MB (core/limits.h).
// Assumes a little-endian host (x86-64, aarch64), like the rest of formats/.
#include "formats/mat.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/echo.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/limits.h"
#include "formats/byte_reader.h"

namespace dice {
namespace {

// Data element types (MATLAB's "mi" constants).
enum : uint32_t {
  miINT8 = 1, miUINT8 = 2, miINT16 = 3, miUINT16 = 4, miINT32 = 5, miUINT32 = 6, miSINGLE = 7,
  miDOUBLE = 9, miINT64 = 12, miUINT64 = 13, miMATRIX = 14, miCOMPRESSED = 15, miUTF8 = 16,
};

// Array classes ("mx" constants, low byte of the array flags), index = class number.
struct ClassInfo {
  const char* name;
  uint32_t mi;  // the data type of the class's own element type; 0 = not a numeric class
  size_t size;
};
const ClassInfo kClasses[] = {
    {"unknown", 0, 0}, {"cell", 0, 0},       {"struct", 0, 0},     {"object", 0, 0},
    {"char", 0, 0},    {"sparse", 0, 0},     {"double", miDOUBLE, 8}, {"single", miSINGLE, 4},
    {"int8", miINT8, 1}, {"uint8", miUINT8, 1}, {"int16", miINT16, 2}, {"uint16", miUINT16, 2},
    {"int32", miINT32, 4}, {"uint32", miUINT32, 4}, {"int64", miINT64, 8}, {"uint64", miUINT64, 8},
    {"function", 0, 0}, {"opaque", 0, 0},
};
constexpr uint32_t kNumClasses = sizeof(kClasses) / sizeof(kClasses[0]);
constexpr int kMaxDims = 32;
constexpr uint32_t kFlagComplex = 0x0800, kFlagLogical = 0x0200;

size_t mi_size(uint32_t type) {
  switch (type) {
    case miINT8: case miUINT8: return 1;
    case miINT16: case miUINT16: return 2;
    case miINT32: case miUINT32: case miSINGLE: return 4;
    case miDOUBLE: case miINT64: case miUINT64: return 8;
    default: return 0;
  }
}

uint32_t class_number(const std::string& name) {
  for (uint32_t c = 0; c < kNumClasses; ++c)
    if (kClasses[c].mi && name == kClasses[c].name) return c;
  return 0;
}

void swap_bytes(uint8_t* p, size_t size) { std::reverse(p, p + size); }

// One numeric element of mi type `type` at p (file byte order) as double.
double load_as_double(const uint8_t* p, uint32_t type, bool be) {
  uint8_t b[8];
  const size_t s = mi_size(type);
  std::memcpy(b, p, s);
  if (be) swap_bytes(b, s);
  switch (type) {
    case miINT8: { int8_t v; std::memcpy(&v, b, 1); return v; }
    case miUINT8: return b[0];
    case miINT16: { int16_t v; std::memcpy(&v, b, 2); return v; }
    case miUINT16: { uint16_t v; std::memcpy(&v, b, 2); return v; }
    case miINT32: { int32_t v; std::memcpy(&v, b, 4); return v; }
    case miUINT32: { uint32_t v; std::memcpy(&v, b, 4); return v; }
    case miSINGLE: { float v; std::memcpy(&v, b, 4); return v; }
    case miDOUBLE: { double v; std::memcpy(&v, b, 8); return v; }
    case miINT64: { int64_t v; std::memcpy(&v, b, 8); return static_cast<double>(v); }
    case miUINT64: { uint64_t v; std::memcpy(&v, b, 8); return static_cast<double>(v); }
    default: DICE_ASSERT(false); return 0;
  }
}

// Stores v as one element of mi type `type` (little-endian). False if v does not fit exactly
// (integer types) - MATLAB narrows only losslessly, so that means a corrupt file.
template <typename T>
bool store_int(double v, uint8_t* out) {
  if (!(v == std::floor(v)) || v < static_cast<double>(std::numeric_limits<T>::lowest()) ||
      v > static_cast<double>(std::numeric_limits<T>::max()))
    return false;
  T t = static_cast<T>(v);
  std::memcpy(out, &t, sizeof(T));
  return true;
}
bool store_from_double(double v, uint32_t type, uint8_t* out) {
  switch (type) {
    case miINT8: return store_int<int8_t>(v, out);
    case miUINT8: return store_int<uint8_t>(v, out);
    case miINT16: return store_int<int16_t>(v, out);
    case miUINT16: return store_int<uint16_t>(v, out);
    case miINT32: return store_int<int32_t>(v, out);
    case miUINT32: return store_int<uint32_t>(v, out);
    case miINT64: return store_int<int64_t>(v, out);
    case miUINT64: return store_int<uint64_t>(v, out);
    case miSINGLE: { float f = static_cast<float>(v); std::memcpy(out, &f, 4); return true; }
    case miDOUBLE: std::memcpy(out, &v, 8); return true;
    default: return false;
  }
}

struct Element {
  uint32_t type = 0;
  const uint8_t* data = nullptr;
  size_t size = 0;
};

class Parser {
 public:
  Parser(const std::string& name, bool be) : name_(name), be_(be) {}

  uint32_t u32(ByteReader& r) const {
    uint32_t v = r.u32();
    return be_ ? __builtin_bswap32(v) : v;
  }

  // Reads one data element (regular or small format) and skips its padding.
  Element element(ByteReader& r) const {
    Element e;
    const uint32_t first = u32(r);
    if (first >> 16) {  // small data element: count in the high half, type in the low half
      e.type = first & 0xffff;
      e.size = first >> 16;
      if (e.size > 4) fail("small data element claims ", e.size, " bytes (at most 4)");
      e.data = r.take(4);
      return e;
    }
    e.type = first;
    e.size = u32(r);
    e.data = r.take(e.size);  // checks the count against the remaining bytes
    if (e.type != miCOMPRESSED) r.skip(std::min<size_t>((8 - e.size % 8) % 8, r.remaining()));
    return e;
  }

  std::vector<uint8_t> inflate_element(const Element& e) const {
    const uint64_t cap = std::min<uint64_t>(static_cast<uint64_t>(e.size) * 1032 + 64,
                                            uint64_t{0xffffffffu} + 8);
    std::vector<uint8_t> out(static_cast<size_t>(std::min<uint64_t>(cap, std::max<uint64_t>(4 * e.size, 1 << 16))));
    charge(out.size());
    z_stream s;
    std::memset(&s, 0, sizeof(s));
    if (inflateInit(&s) != Z_OK) throw_error(name_, ": zlib initialisation failed");
    struct End {  // zlib's state is freed however this function is left
      z_stream* s;
      ~End() { inflateEnd(s); }
    } end{&s};
    s.next_in = const_cast<Bytef*>(e.data);
    s.avail_in = static_cast<uInt>(e.size);
    size_t produced = 0;
    int rc = Z_OK;
    for (;;) {
      if (produced == out.size()) {
        if (out.size() >= cap) fail("compressed element inflates beyond ", cap, " bytes");
        const size_t grown = static_cast<size_t>(std::min<uint64_t>(cap, 2 * static_cast<uint64_t>(out.size())));
        charge(grown - out.size());
        out.resize(grown);
      }
      const size_t room = std::min<size_t>(out.size() - produced, 1u << 30);
      s.next_out = out.data() + produced;
      s.avail_out = static_cast<uInt>(room);
      rc = inflate(&s, Z_NO_FLUSH);
      produced += room - s.avail_out;
      if (rc == Z_STREAM_END) break;
      if (rc == Z_BUF_ERROR && s.avail_out != 0) break;  // input exhausted before the end
      if (rc != Z_OK && rc != Z_BUF_ERROR) break;
    }
    if (rc != Z_STREAM_END)
      fail(rc == Z_DATA_ERROR ? "corrupt zlib data in a compressed element"
                              : "compressed element ends before its zlib stream does");
    out.resize(produced);
    return out;
  }

  // Decodes the contents of a miMATRIX element.
  MatArray matrix(const uint8_t* p, size_t n) const {
    ByteReader r(p, n, name_, "MAT-file array");
    MatArray a;
    Element flags = element(r);
    if (flags.type != miUINT32 || flags.size != 8) fail("array flags element has type ", flags.type, " and ", flags.size, " bytes (expected miUINT32, 8)");
    ByteReader fr(flags.data, 8, name_, "array flags");
    const uint32_t f = u32(fr);
    uint32_t cls = f & 0xff;
    a.class_name = cls < kNumClasses ? kClasses[cls].name : "unknown";

    Element dims = element(r);
    if (dims.type != miINT32 || dims.size % 4 || dims.size < 8 || dims.size > 4 * kMaxDims)
      fail("array dimensions element has type ", dims.type, " and ", dims.size, " bytes (expected 2..32 miINT32)");
    ByteReader dr(dims.data, dims.size, name_, "array dimensions");
    for (size_t i = 0; i < dims.size / 4; ++i) {
      const int32_t d = static_cast<int32_t>(u32(dr));
      if (d < 0) fail("negative array dimension ", d);
      a.dims.push_back(d);
    }
    Element nm = element(r);
    if (nm.type != miINT8 && nm.type != miUTF8 && nm.type != miUINT8) fail("array name element has type ", nm.type);
    a.name.assign(reinterpret_cast<const char*>(nm.data), nm.size);

    if (cls >= kNumClasses || kClasses[cls].mi == 0 || (f & kFlagComplex)) {
      a.decoded = false;  // cell, struct, char, sparse, object, complex: listed, not decoded
      if (f & kFlagComplex) a.class_name = "complex " + a.class_name;
      return a;
    }
    // A logical array reads as uint8 whatever its stored class: its values are converted to
    // uint8 elements below (a value other than 0..255 is refused), so class and bytes agree.
    if (f & kFlagLogical) {
      cls = class_number("uint8");
      a.class_name = kClasses[cls].name;
    }

    Element real = element(r);
    const size_t es = mi_size(real.type);
    if (es == 0) fail("variable '", a.name, "' has real part of data type ", real.type, ", not a numeric type");
    if (real.size % es) fail("variable '", a.name, "': ", real.size, " data bytes is not a whole number of ", es, "-byte elements");
    const size_t count = real.size / es;
    // numel must equal count; the product is checked step by step so it cannot overflow.
    size_t numel = 1;
    for (int64_t d : a.dims) {
      if (d != 0 && numel > count / static_cast<size_t>(d)) { numel = count + 1; break; }
      numel *= static_cast<size_t>(d);
    }
    if (numel != count)
      fail("variable '", a.name, "' has dimensions ", dims_str(a.dims), " but ", count, " data elements");

    const ClassInfo& ci = kClasses[cls];
    charge(static_cast<uint64_t>(count) * ci.size);
    a.data.resize(count * ci.size);
    if (real.type == ci.mi) {
      if (real.size) std::memcpy(a.data.data(), real.data, real.size);  // empty: both may be null
      if (be_)
        for (size_t i = 0; i < count; ++i) swap_bytes(a.data.data() + i * es, es);
    } else {
      for (size_t i = 0; i < count; ++i)
        if (!store_from_double(load_as_double(real.data + i * es, real.type, be_), ci.mi, a.data.data() + i * ci.size))
          fail("variable '", a.name, "' of class ", ci.name, " holds value ",
               load_as_double(real.data + i * es, real.type, be_), " (stored as data type ", real.type, ") that does not fit it");
    }
    return a;
  }

  static std::string dims_str(const std::vector<int64_t>& dims) {
    std::string s;
    for (size_t i = 0; i < dims.size(); ++i) s += (i ? "x" : "") + std::to_string(dims[i]);
    return s;
  }

  template <typename... Parts>
  [[noreturn]] void fail(const Parts&... parts) const {
    throw_error(name_, ": corrupt MAT-file (", parts..., "); re-save it with MATLAB's save -v7 or scipy.io.savemat");
  }

  // Every byte the file materialises (inflated elements, decoded variables) counts against
  // DICE_MAX_INPUT_MB, checked before it is allocated.
  void charge(uint64_t bytes) const {
    materialised_ += bytes;
    if (materialised_ > max_input_bytes()) throw_input_limit(name_, "decoding the MAT-file", materialised_);
  }

 private:
  const std::string& name_;
  bool be_;
  mutable uint64_t materialised_ = 0;
};

// Writer helpers: appends u32 in the file's byte order; sub-elements with padding.
void put32(std::string& out, uint32_t v, bool be) { put_le(out, be ? __builtin_bswap32(v) : v, 4); }

void put_element(std::string& out, uint32_t type, const std::string& bytes, bool be) {
  if (!bytes.empty() && bytes.size() <= 4) {  // small data element format
    put32(out, static_cast<uint32_t>(bytes.size()) << 16 | type, be);
    out += bytes;
    out.append(4 - bytes.size(), '\0');
    return;
  }
  put32(out, type, be);
  put32(out, static_cast<uint32_t>(bytes.size()), be);
  out += bytes;
  out.append((8 - bytes.size() % 8) % 8, '\0');
}

}  // namespace

int64_t MatArray::numel() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

size_t mat_class_size(const std::string& class_name) { return kClasses[class_number(class_name)].size; }

std::vector<MatArray> parse_mat(const uint8_t* bytes, size_t size, const std::string& name) {
  if (size < 128 || std::memcmp(bytes, "MATLAB", 6) != 0)
    throw_error(name, ": not a MATLAB v5 MAT-file (no 128-byte header starting 'MATLAB'; v4 files are not"
                " supported); re-save it with MATLAB's save -v7 or scipy.io.savemat");
  bool be;
  if (bytes[126] == 'I' && bytes[127] == 'M') be = false;
  else if (bytes[126] == 'M' && bytes[127] == 'I') be = true;
  else throw_error(name, ": bad MAT-file endian indicator (expected 'IM' or 'MI' at offset 126); the file is damaged");
  const unsigned version = be ? (bytes[124] << 8 | bytes[125]) : (bytes[125] << 8 | bytes[124]);
  if (version == 0x0200)
    throw_error(name, ": is a MATLAB v7.3 (HDF5) MAT-file, which is not supported; re-save it with"
                " save(..., '-v7') or scipy.io.savemat");
  if (version != 0x0100)
    throw_error(name, ": unknown MAT-file version ", version, " (expected 256); re-save it with save(..., '-v7')");

  Parser parser(name, be);
  ByteReader r(bytes, size, name, "MAT-file");
  r.seek(128);
  std::vector<MatArray> arrays;
  while (!r.at_end()) {
    Element e = parser.element(r);
    if (e.type == miCOMPRESSED) {
      std::vector<uint8_t> inner = parser.inflate_element(e);
      ByteReader ir(inner.data(), inner.size(), name, "compressed MAT-file element");
      Element m = parser.element(ir);
      if (m.type == miMATRIX && m.size > 0) arrays.push_back(parser.matrix(m.data, m.size));
    } else if (e.type == miMATRIX) {
      if (e.size > 0) arrays.push_back(parser.matrix(e.data, e.size));
    }
    // Other top-level elements (none in files MATLAB writes) are skipped.
  }
  return arrays;
}

std::vector<MatArray> read_mat(const std::string& path) {
  std::vector<uint8_t> bytes = read_file(path);
  return parse_mat(bytes.data(), bytes.size(), path);
}

const MatArray& mat_find(const std::vector<MatArray>& arrays, const std::string& var,
                         const std::string& path) {
  std::string present;
  for (const MatArray& a : arrays) {
    if (a.name == var) {
      if (!a.decoded)
        throw_error(path, ": variable '", echo(var), "' is a ", echo(a.class_name), " array, not a real numeric one");
      return a;
    }
    present += (present.empty() ? "" : ", ") + a.name;
  }
  throw_error(path, ": no variable '", echo(var), "' in this MAT-file (it holds: ",
              present.empty() ? "nothing" : echo(present), ")");
}

std::vector<double> mat_to_double(const MatArray& a, const std::string& path) {
  const uint32_t cls = class_number(a.class_name);
  if (!a.decoded || cls == 0)
    throw_error(path, ": variable '", echo(a.name), "' is a ", echo(a.class_name), " array, not a real numeric one");
  const size_t es = kClasses[cls].size, n = a.data.size() / es;
  DICE_ASSERT(a.data.size() % es == 0);
  std::vector<double> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = load_as_double(a.data.data() + i * es, kClasses[cls].mi, false);
  return out;
}

std::vector<uint8_t> serialize_mat_v5(const std::vector<MatArray>& arrays, bool compressed,
                                      bool big_endian, bool narrow_integers) {
  const bool be = big_endian;
  std::string out = "MATLAB 5.0 MAT-file, Platform: dice-cuda, Created by: dice-cuda formats/mat.cpp";
  out.resize(116, ' ');
  out.append(8, '\0');  // subsystem data offset: none
  put_le(out, be ? 0x0001 : 0x0100, 2);
  out += be ? "MI" : "IM";
  for (const MatArray& a : arrays) {
    const uint32_t cls = class_number(a.class_name);
    if (!a.decoded || cls == 0) throw_error("write_mat_v5: variable '", a.name, "' has unsupported class ", a.class_name);
    const ClassInfo& ci = kClasses[cls];
    if (a.dims.size() < 2 || a.dims.size() > kMaxDims || a.numel() < 0 ||
        a.data.size() != static_cast<size_t>(a.numel()) * ci.size)
      throw_error("write_mat_v5: variable '", a.name, "' has ", a.data.size(), " data bytes for ",
                  a.dims.size(), " dimensions of ", ci.name, " elements");
    std::string body, s;
    put32(s, cls, be);
    put32(s, 0, be);
    put_element(body, miUINT32, s, be);
    s.clear();
    for (int64_t d : a.dims) {
      if (d < 0 || d > std::numeric_limits<int32_t>::max()) throw_error("write_mat_v5: dimension ", d, " out of range");
      put32(s, static_cast<uint32_t>(d), be);
    }
    put_element(body, miINT32, s, be);
    put_element(body, miINT8, a.name, be);

    uint32_t type = ci.mi;
    size_t es = ci.size;
    std::string data(a.data.begin(), a.data.end());
    if (narrow_integers && type == miDOUBLE) {
      std::vector<double> v = mat_to_double(a, "write_mat_v5");
      bool fits = std::all_of(v.begin(), v.end(), [](double x) { return x >= 0 && x <= 255 && x == std::floor(x); });
      if (fits) {
        type = miUINT8, es = 1;
        data.assign(v.size(), '\0');
        for (size_t i = 0; i < v.size(); ++i) data[i] = static_cast<char>(static_cast<uint8_t>(v[i]));
      }
    }
    if (be)
      for (size_t i = 0; i + es <= data.size(); i += es) std::reverse(data.begin() + i, data.begin() + i + es);
    put_element(body, type, data, be);

    std::string matrix;
    put32(matrix, miMATRIX, be);
    put32(matrix, static_cast<uint32_t>(body.size()), be);
    matrix += body;
    if (!compressed) {
      out += matrix;
      continue;
    }
    uLongf clen = compressBound(static_cast<uLong>(matrix.size()));
    std::vector<uint8_t> z(clen);
    if (compress2(z.data(), &clen, reinterpret_cast<const Bytef*>(matrix.data()),
                  static_cast<uLong>(matrix.size()), Z_DEFAULT_COMPRESSION) != Z_OK)
      throw_error("write_mat_v5: zlib compression of '", a.name, "' failed");
    put32(out, miCOMPRESSED, be);
    put32(out, static_cast<uint32_t>(clen), be);
    out.append(reinterpret_cast<const char*>(z.data()), clen);  // not padded, as MATLAB writes it
  }
  return std::vector<uint8_t>(out.begin(), out.end());
}

void write_mat_v5(const std::string& path, const std::vector<MatArray>& arrays, bool compressed) {
  std::vector<uint8_t> bytes = serialize_mat_v5(arrays, compressed);
  write_file_atomic(path, bytes.data(), bytes.size());
}

}  // namespace dice
