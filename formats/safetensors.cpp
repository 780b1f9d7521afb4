// safetensors reader and writer (see safetensors.h).
//
// Layout: u64 LE header length N; N bytes of UTF-8 JSON (padded with spaces to a multiple of 8 by
// the writers); then the data buffer. The header maps each tensor name to
//   {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
// with offsets relative to the start of the data buffer, plus an optional "__metadata__" object
// of string values. Following the reference implementation, the reader requires the tensors to
// tile the data buffer exactly (no gaps, no overlaps, nothing after the last one) and each byte
// range to equal numel * dtype size.
#include "formats/safetensors.h"

#include <algorithm>

#include "core/echo.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/limits.h"
#include "formats/byte_reader.h"
#include "formats/json.h"

namespace dice {

namespace {
constexpr uint64_t kMaxHeader = 100u << 20;  // same bound as the reference implementation
constexpr size_t kMaxDims = 64;
}  // namespace

size_t safetensors_dtype_size(const std::string& d) {
  if (d == "F64" || d == "I64" || d == "U64") return 8;
  if (d == "F32" || d == "I32" || d == "U32") return 4;
  if (d == "F16" || d == "BF16" || d == "I16" || d == "U16") return 2;
  if (d == "I8" || d == "U8" || d == "BOOL") return 1;
  return 0;
}

bool is_safetensors(const uint8_t* d, size_t n) {
  if (n < 10) return false;
  uint64_t h = 0;
  for (int k = 0; k < 8; ++k) h |= uint64_t(d[k]) << (8 * k);
  if (h < 2 || h > n - 8) return false;
  size_t k = 8;
  while (k < 8 + h && (d[k] == ' ' || d[k] == '\n' || d[k] == '\t' || d[k] == '\r')) ++k;
  return k < 8 + h && d[k] == '{';
}

SafeTensorsFile parse_safetensors(const uint8_t* data, size_t size, const std::string& name) {
  auto bad = [&](const std::string& what) {
    throw_error(name, ": invalid safetensors file (", what, "); re-export it with safetensors.torch.save_file");
  };
  ByteReader r(data, size, name, "safetensors file");
  uint64_t hlen = r.u64();
  if (hlen > kMaxHeader) bad("header length " + std::to_string(hlen) + " is implausible");
  if (hlen > r.remaining()) bad("header runs past the end of the file; the file is truncated");
  std::string text = r.str(static_cast<size_t>(hlen));
  // A parsed value takes ~100 bytes whatever its text: 100 MB of "0," would be 6 GB of values. A
  // real header has a few values per tensor; one per KB of the input cap is ample (2M by default).
  const size_t max_values = static_cast<size_t>(max_input_bytes() / 1024);
  Json h;
  try {
    h = Json::parse(text, name + " (safetensors header)", 64, max_values);
  } catch (const Error& e) {
    if (std::string(e.what()).find("too many values") != std::string::npos)
      throw_input_limit(name, "parsing the header", hlen / 2 * 1024);  // ~1 value per 2 bytes
    throw Error(std::string(e.what()) + "; the file is damaged");
  }
  if (!h.is_object()) bad("header is not a JSON object");
  const size_t buf = r.remaining();
  const uint8_t* base = r.here();

  // Two passes: validate every entry and the tiling of the data buffer first, copy second, so a
  // header listing the whole buffer a million times is refused before anything is copied.
  SafeTensorsFile out;
  struct Span { uint64_t b, e; std::string name; SafeTensor t; };
  std::vector<Span> spans;
  for (const auto& kv : h.members()) {
    const std::string& key = kv.first;
    const Json& v = kv.second;
    if (key == "__metadata__") {
      if (!v.is_object()) bad("__metadata__ is not an object");
      for (const auto& m : v.members()) {
        if (!m.second.is_string()) bad("__metadata__ value of '" + m.first + "' is not a string");
        out.metadata[m.first] = m.second.as_string();
      }
      continue;
    }
    if (!v.is_object()) bad("entry '" + echo(key) + "' is not an object");
    const Json* dt = v.find("dtype");
    const Json* sh = v.find("shape");
    const Json* off = v.find("data_offsets");
    if (!dt || !sh || !off || !dt->is_string() || !sh->is_array() || !off->is_array() || off->size() != 2)
      bad("entry '" + echo(key) + "' needs dtype, shape and data_offsets [begin, end]");
    SafeTensor t;
    t.dtype = dt->as_string();
    size_t item = safetensors_dtype_size(t.dtype);
    if (!item) bad("entry '" + echo(key) + "' has unsupported dtype '" + echo(t.dtype) + "'");
    if (sh->size() > kMaxDims) bad("entry '" + echo(key) + "' has too many dimensions");
    uint64_t numel = 1;
    for (const Json& d : sh->items()) {
      if (!d.is_number() || d.as_number() < 0 || d.as_number() > 9.0e15 || d.as_number() != (double)(int64_t)d.as_number())
        bad("entry '" + echo(key) + "' has a bad dimension");
      int64_t n = d.as_int();
      if (n != 0 && numel > buf / static_cast<uint64_t>(n)) bad("entry '" + echo(key) + "' is larger than the file");
      numel *= static_cast<uint64_t>(n);
      t.shape.push_back(n);
    }
    uint64_t ob[2];
    for (int k = 0; k < 2; ++k) {
      const Json& o = (*off)[static_cast<size_t>(k)];
      if (!o.is_number() || o.as_number() < 0 || o.as_number() > 9.0e15 || o.as_number() != (double)(int64_t)o.as_number())
        bad("entry '" + echo(key) + "' has a bad data offset");
      ob[k] = static_cast<uint64_t>(o.as_int());
    }
    if (ob[0] > ob[1] || ob[1] > buf)
      bad("entry '" + echo(key) + "' data_offsets [" + std::to_string(ob[0]) + ", " + std::to_string(ob[1]) +
          "] fall outside the " + std::to_string(buf) + "-byte data buffer; the file is truncated or corrupt");
    if (ob[1] - ob[0] != numel * item)
      bad("entry '" + echo(key) + "' has " + std::to_string(ob[1] - ob[0]) + " bytes but its shape and dtype need " +
          std::to_string(numel * item));
    spans.push_back({ob[0], ob[1], key, std::move(t)});
  }
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.b < b.b || (a.b == b.b && a.e < b.e); });
  uint64_t at = 0;
  for (const Span& s : spans) {
    if (s.b != at)
      bad(s.b < at ? "tensor '" + s.name + "' overlaps another" : "gap in the data before '" + s.name + "'");
    at = s.e;
  }
  if (at != buf) bad("data buffer has " + std::to_string(buf - at) + " unused bytes at the end");
  for (Span& s : spans) {
    s.t.data.assign(base + s.b, base + s.e);
    out.tensors.emplace(std::move(s.name), std::move(s.t));
  }
  return out;
}

SafeTensorsFile read_safetensors(const std::string& path) {
  std::vector<uint8_t> b = read_file(path);
  return parse_safetensors(b.data(), b.size(), path);
}

std::vector<uint8_t> serialize_safetensors(const SafeTensorsFile& f, const std::string& name) {
  Json h = Json::object();
  if (!f.metadata.empty()) {
    Json m = Json::object();
    for (const auto& kv : f.metadata) m.set(kv.first, Json(kv.second));
    h.set("__metadata__", std::move(m));
  }
  uint64_t at = 0;
  for (const auto& kv : f.tensors) {
    const SafeTensor& t = kv.second;
    if (kv.first == "__metadata__") throw_error(name, ": a tensor may not be called '__metadata__'");
    size_t item = safetensors_dtype_size(t.dtype);
    if (!item) throw_error(name, ": tensor '", echo(kv.first), "' has unsupported dtype '", echo(t.dtype), "'");
    uint64_t numel = 1;
    Json shape = Json::array();
    for (int64_t d : t.shape) {
      if (d < 0) throw_error(name, ": tensor '", echo(kv.first), "' has a negative dimension");
      numel *= static_cast<uint64_t>(d);
      shape.push_back(Json(d));
    }
    if (numel * item != t.data.size())
      throw_error(name, ": tensor '", echo(kv.first), "' has ", t.data.size(), " bytes but its shape needs ", numel * item);
    Json e = Json::object();
    e.set("dtype", Json(t.dtype));
    e.set("shape", std::move(shape));
    Json off = Json::array();
    off.push_back(Json(at));
    off.push_back(Json(at + t.data.size()));
    e.set("data_offsets", std::move(off));
    h.set(kv.first, std::move(e));
    at += t.data.size();
  }
  std::string text = h.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned
  std::string head;
  put_le(head, text.size(), 8);
  head += text;
  std::vector<uint8_t> out(head.begin(), head.end());
  out.reserve(out.size() + at);
  for (const auto& kv : f.tensors) out.insert(out.end(), kv.second.data.begin(), kv.second.data.end());
  return out;
}

void write_safetensors(const std::string& path, const SafeTensorsFile& f) {
  std::vector<uint8_t> b = serialize_safetensors(f, path);
  write_file_atomic(path, b.data(), b.size());
}

}  // namespace dice
