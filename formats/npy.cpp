// .npy reader and writer (see npy.h).
//
// Layout: "\x93NUMPY", major, minor, header length (u16 LE for v1, u32 LE for v2/v3), then an
// ASCII (v3: UTF-8) Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
// padded with spaces and a final '\n' so the data starts at a multiple of 64 bytes; the raw data
// follows. The header is parsed by a small tokenizer for exactly that literal form, not by a
// general Python evaluator.
#include "formats/npy.h"

#include <cstring>
#include <memory>

#include "core/echo.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/file_set.h"
#include "formats/byte_reader.h"
#include "formats/half.h"

namespace dice {

namespace {

constexpr int kMaxDims = 32;  // numpy's own limit

struct HeaderParser {
  const std::string& h;
  const std::string& name;
  size_t i = 0;

  [[noreturn]] void fail(const std::string& what) const {
    throw_error(name, ": bad .npy header (", what, "); re-save the array with numpy.save");
  }
  void ws() {
    while (i < h.size() && (h[i] == ' ' || h[i] == '\t' || h[i] == '\n' || h[i] == '\r')) ++i;
  }
  bool eat(char c) {
    ws();
    if (i < h.size() && h[i] == c) {
      ++i;
      return true;
    }
    return false;
  }
  std::string quoted() {
    ws();
    if (i >= h.size() || (h[i] != '\'' && h[i] != '"')) fail("expected a quoted string");
    char q = h[i++];
    size_t s = i;
    while (i < h.size() && h[i] != q) ++i;
    if (i >= h.size()) fail("unterminated string");
    return h.substr(s, i++ - s);
  }
  int64_t integer() {
    ws();
    size_t s = i;
    int64_t v = 0;
    while (i < h.size() && h[i] >= '0' && h[i] <= '9') {
      if (v > (INT64_MAX - 9) / 10) fail("dimension too large");
      v = v * 10 + (h[i++] - '0');
    }
    if (i == s) fail("expected a dimension");
    if (i < h.size() && h[i] == 'L') ++i;  // Python 2 longs
    return v;
  }
  bool boolean() {
    ws();
    if (h.compare(i, 4, "True") == 0) { i += 4; return true; }
    if (h.compare(i, 5, "False") == 0) { i += 5; return false; }
    fail("expected True or False");
  }
};

std::string npy_header_text(const NpyArray& a) {
  std::string h = "{'descr': '" + a.descr + "', 'fortran_order': False, 'shape': (";
  for (size_t k = 0; k < a.shape.size(); ++k) h += (k ? ", " : "") + std::to_string(a.shape[k]);
  if (a.shape.size() == 1) h += ",";  // a Python 1-tuple
  h += "), }";
  return h;
}

}  // namespace

int64_t NpyArray::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

size_t npy_item_size(const std::string& d, const std::string& name) {
  if (d == "<f4" || d == "<i4") return 4;
  if (d == "<f8" || d == "<i8") return 8;
  if (d == "<f2") return 2;
  if (d == "|u1" || d == "|i1" || d == "|b1") return 1;
  if (!d.empty() && d[0] == '>')
    throw_error(name, ": big-endian array ('", echo(d), "') is not supported; convert it with "
                "a.astype(a.dtype.newbyteorder('<')) and re-save");
  throw_error(name, ": unsupported .npy dtype '", echo(d),
              "'; expected one of <f4 <f8 <f2 <i4 <i8 |u1 |i1 |b1 (convert with astype and re-save)");
}

NpyArray parse_npy(const uint8_t* bytes, size_t size, const std::string& name) {
  ByteReader r(bytes, size, name, ".npy file");
  if (size < 6 || std::memcmp(bytes, "\x93NUMPY", 6) != 0)
    throw_error(name, ": not a .npy file (bad magic); expected an array written by numpy.save");
  r.skip(6);
  uint8_t major = r.u8();
  r.u8();  // minor
  size_t hlen;
  if (major == 1) hlen = r.u16();
  else if (major == 2 || major == 3) hlen = r.u32();
  else throw_error(name, ": unsupported .npy format version ", int(major), "; re-save with numpy.save");
  if (hlen > 1 << 20) throw_error(name, ": .npy header too large (", hlen, " bytes); the file is corrupt");
  std::string h = r.str(hlen);

  HeaderParser p{h, name};
  NpyArray a;
  bool have_descr = false, have_shape = false, have_order = false;
  if (!p.eat('{')) p.fail("expected '{'");
  while (!p.eat('}')) {
    std::string key = p.quoted();
    if (!p.eat(':')) p.fail("expected ':'");
    if (key == "descr") {
      p.ws();
      if (p.i < h.size() && h[p.i] == '[') p.fail("structured dtypes are not supported");
      a.descr = p.quoted();
      have_descr = true;
    } else if (key == "fortran_order") {
      if (p.boolean())
        throw_error(name, ": array is stored in Fortran order; re-save it with "
                    "numpy.save(path, numpy.ascontiguousarray(a))");
      have_order = true;
    } else if (key == "shape") {
      if (!p.eat('(')) p.fail("expected '(' for the shape");
      while (!p.eat(')')) {
        if (a.shape.size() >= kMaxDims) p.fail("too many dimensions");
        a.shape.push_back(p.integer());
        if (!p.eat(',')) {
          if (!p.eat(')')) p.fail("expected ',' or ')' in the shape");
          break;
        }
      }
      have_shape = true;
    } else {
      p.fail("unknown key '" + key + "'");
    }
    if (!p.eat(',')) {
      if (!p.eat('}')) p.fail("expected ',' or '}'");
      break;
    }
  }
  if (!have_descr || !have_shape || !have_order) p.fail("missing descr, fortran_order or shape");
  // ASCII descr like '<u1' is what numpy writes for uint8 on some versions; normalise.
  if (a.descr == "<u1" || a.descr == "u1" || a.descr == "B") a.descr = "|u1";
  if (a.descr == "<i1" || a.descr == "b") a.descr = "|i1";
  if (a.descr == "<b1" || a.descr == "?") a.descr = "|b1";
  size_t item = npy_item_size(a.descr, name);

  // Every partial product of the dimensions must fit int64 even when a zero dimension makes the
  // array empty (callers multiply dimensions to get strides), with room for the item size.
  uint64_t extent = 1;
  for (int64_t d : a.shape) {
    uint64_t u = d > 1 ? static_cast<uint64_t>(d) : 1;
    if (extent > (uint64_t(INT64_MAX) / 8) / u)
      throw_error(name, ": .npy shape is implausibly large; the file is corrupt");
    extent *= u;
  }
  // Element count with overflow checks against what the file can hold.
  uint64_t count = 1;
  for (int64_t d : a.shape) {
    if (d != 0 && count > r.remaining() / static_cast<uint64_t>(d))
      throw_error(name, ": .npy shape needs more data than the file holds; the file is truncated");
    count *= static_cast<uint64_t>(d);
  }
  if (count > r.remaining() / item)
    throw_error(name, ": truncated .npy data (shape needs ", count * item, " bytes, ", r.remaining(),
                " present); re-save the array");
  size_t nbytes = static_cast<size_t>(count) * item;
  const uint8_t* d = r.take(nbytes);
  a.data.assign(d, d + nbytes);
  return a;
}

NpyArray read_npy(const std::string& path) {
  std::vector<uint8_t> b = read_file(path);
  return parse_npy(b.data(), b.size(), path);
}

std::vector<uint8_t> serialize_npy(const NpyArray& a, const std::string& name) {
  size_t item = npy_item_size(a.descr, name);
  for (int64_t d : a.shape)
    if (d < 0) throw_error(name, ": negative dimension in the array to write");
  if (static_cast<uint64_t>(a.numel()) * item != a.data.size())
    throw_error(name, ": array data has ", a.data.size(), " bytes but shape and dtype need ",
                a.numel() * static_cast<int64_t>(item));
  std::string h = npy_header_text(a);
  // Pad so that magic + version + length field + header (+ '\n') is a multiple of 64.
  bool v2 = h.size() + 1 + 10 > 65535;
  size_t prefix = v2 ? 12 : 10;
  size_t total = (prefix + h.size() + 1 + 63) / 64 * 64;
  h.append(total - prefix - h.size() - 1, ' ');
  h.push_back('\n');
  std::string out("\x93NUMPY", 6);
  out.push_back(static_cast<char>(v2 ? 2 : 1));
  out.push_back(0);
  put_le(out, h.size(), v2 ? 4 : 2);
  out += h;
  std::vector<uint8_t> bytes(out.begin(), out.end());
  bytes.insert(bytes.end(), a.data.begin(), a.data.end());
  return bytes;
}

void write_npy(const std::string& path, const NpyArray& a) {
  std::vector<uint8_t> b = serialize_npy(a, path);
  write_file_atomic(path, b.data(), b.size());
}

template <typename T>
static NpyArray make_typed(const char* descr, const std::vector<int64_t>& shape, const T* data) {
  NpyArray a;
  a.descr = descr;
  a.shape = shape;
  for (int64_t d : shape)
    if (d < 0) throw_error("npy: negative dimension in the array to write");
  size_t n = static_cast<size_t>(a.numel()) * sizeof(T);
  const uint8_t* p = reinterpret_cast<const uint8_t*>(data);
  a.data.assign(p, p + n);  // the host is little-endian (x86-64, aarch64)
  return a;
}

NpyArray npy_f32(const std::vector<int64_t>& shape, const float* data) {
  return make_typed("<f4", shape, data);
}
NpyArray npy_f64(const std::vector<int64_t>& shape, const double* data) {
  return make_typed("<f8", shape, data);
}
NpyArray npy_i64(const std::vector<int64_t>& shape, const int64_t* data) {
  return make_typed("<i8", shape, data);
}

void write_npy_f32(const std::string& path, const std::vector<int64_t>& shape, const float* data) {
  write_npy(path, npy_f32(shape, data));
}
void write_npy_f64(const std::string& path, const std::vector<int64_t>& shape, const double* data) {
  write_npy(path, npy_f64(shape, data));
}
void write_npy_i64(const std::string& path, const std::vector<int64_t>& shape, const int64_t* data) {
  write_npy(path, npy_i64(shape, data));
}

void write_npy_set(const std::string& prefix, const std::vector<std::pair<std::string, NpyArray>>& files) {
  std::vector<std::pair<std::string, std::vector<uint8_t>>> members;
  for (const auto& [path, a] : files) members.emplace_back(path, serialize_npy(a, path));
  write_file_set(prefix, members);
}

std::vector<double> npy_to_double(const NpyArray& a, const std::string& path) {
  size_t item = npy_item_size(a.descr, path);
  size_t n = a.data.size() / item;
  std::vector<double> out(n);
  const uint8_t* p = a.data.data();
  for (size_t i = 0; i < n; ++i, p += item) {
    if (a.descr == "<f4") { float v; std::memcpy(&v, p, 4); out[i] = v; }
    else if (a.descr == "<f8") { std::memcpy(&out[i], p, 8); }
    else if (a.descr == "<f2") { uint16_t v; std::memcpy(&v, p, 2); out[i] = half_to_float(v); }
    else if (a.descr == "<i4") { int32_t v; std::memcpy(&v, p, 4); out[i] = v; }
    else if (a.descr == "<i8") { int64_t v; std::memcpy(&v, p, 8); out[i] = static_cast<double>(v); }
    else if (a.descr == "|u1" || a.descr == "|b1") { out[i] = *p; }
    else { out[i] = static_cast<int8_t>(*p); }
  }
  return out;
}

std::vector<float> npy_to_float(const NpyArray& a, const std::string& path) {
  if (a.descr == "<f4") {
    std::vector<float> out(a.data.size() / 4);
    if (!out.empty()) std::memcpy(out.data(), a.data.data(), out.size() * 4);
    return out;
  }
  std::vector<double> d = npy_to_double(a, path);
  return std::vector<float>(d.begin(), d.end());
}

}  // namespace dice
