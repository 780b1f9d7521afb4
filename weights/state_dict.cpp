// StateDict lookups, format detection and the safetensors bridge (see state_dict.h).
#include "weights/state_dict.h"

#include <cmath>

#include <cstring>

#include "core/echo.h"
#include "core/error.h"
#include "core/file_io.h"
#include "formats/half.h"
#include "formats/safetensors.h"
#include "formats/zip.h"
#include "weights/torch_checkpoint.h"

namespace dice {

std::string shape_to_string(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

const Tensor& StateDict::at(const std::string& key) const {
  auto it = tensors.find(key);
  if (it != tensors.end()) return it->second;
  // Name a few keys that share the last component, to make the mismatch obvious.
  std::string hint;
  std::string tail = key.substr(key.rfind('.') == std::string::npos ? 0 : key.rfind('.'));
  int shown = 0;
  for (const auto& kv : tensors)
    if (shown < 3 && kv.first.size() >= tail.size() &&
        kv.first.compare(kv.first.size() - tail.size(), tail.size(), tail) == 0)
      hint += (shown++ ? ", '" : " (it has e.g. '") + kv.first + "'";
  if (shown) hint += ")";
  throw_error(source, ": no tensor '", echo(key), "' among its ", tensors.size(), " tensors", echo(hint, 300),
              "; check that the checkpoint is for this model");
}

const Tensor& StateDict::at(const std::string& key, const std::vector<int64_t>& shape) const {
  const Tensor& t = at(key);
  if (t.shape != shape)
    throw_error(source, ": tensor '", echo(key), "' has shape ", shape_to_string(t.shape), ", expected ",
                shape_to_string(shape), "; the checkpoint is for a different model or number of classes");
  return t;
}

static StateDict from_safetensors(const std::string& path, const std::vector<uint8_t>& bytes) {
  SafeTensorsFile f = parse_safetensors(bytes.data(), bytes.size(), path);
  StateDict sd;
  sd.source = path;
  sd.metadata = f.metadata;
  for (auto& kv : f.tensors) {
    const SafeTensor& st = kv.second;
    Tensor t;
    t.shape = st.shape;
    size_t item = safetensors_dtype_size(st.dtype);
    size_t n = st.data.size() / item;
    t.data.resize(n);
    const uint8_t* p = st.data.data();
    const std::string& d = st.dtype;
    for (size_t i = 0; i < n; ++i, p += item) {
      float v;
      if (d == "F32") std::memcpy(&v, p, 4);
      else if (d == "F64") { double x; std::memcpy(&x, p, 8); v = static_cast<float>(x); }
      else if (d == "F16") { uint16_t x; std::memcpy(&x, p, 2); v = half_to_float(x); }
      else if (d == "BF16") { uint16_t x; std::memcpy(&x, p, 2); v = bf16_to_float(x); }
      else if (d == "I64") { int64_t x; std::memcpy(&x, p, 8); v = static_cast<float>(x); }
      else if (d == "U64") { uint64_t x; std::memcpy(&x, p, 8); v = static_cast<float>(x); }
      else if (d == "I32") { int32_t x; std::memcpy(&x, p, 4); v = static_cast<float>(x); }
      else if (d == "U32") { uint32_t x; std::memcpy(&x, p, 4); v = static_cast<float>(x); }
      else if (d == "I16") { int16_t x; std::memcpy(&x, p, 2); v = x; }
      else if (d == "U16") { uint16_t x; std::memcpy(&x, p, 2); v = x; }
      else if (d == "I8") v = static_cast<int8_t>(*p);
      else v = *p;  // U8, BOOL
      t.data[i] = v;
    }
    sd.tensors.emplace(kv.first, std::move(t));
  }
  return sd;
}

void check_finite_weights(const StateDict& sd, const std::string& path) {
  for (const auto& [name, t] : sd.tensors)
    for (size_t i = 0; i < t.data.size(); ++i)
      if (!std::isfinite(t.data[i]))
        throw_error(echo(path), ": tensor '", echo(name), "' holds ", t.data[i], " at index ", i,
                    "; the weights are damaged (re-export or re-download them)");
}

StateDict load_weights(const std::string& path) {
  std::vector<uint8_t> bytes = read_file(path);
  const uint8_t* b = bytes.data();
  size_t n = bytes.size();
  if (is_zip(b, n) || (n >= 3 && b[0] == 0x80 && b[2] == 0x8a)) return load_torch_checkpoint(std::move(bytes), path);
  if (is_safetensors(b, n)) return from_safetensors(path, bytes);
  throw_error(echo(path), ": unrecognised weight file; expected a torch checkpoint (torch.save, zip or legacy "
              "format) or a .safetensors file");
}

void save_safetensors(const StateDict& sd, const std::string& path) {
  SafeTensorsFile f;
  f.metadata = sd.metadata;
  for (const auto& kv : sd.tensors) {
    const Tensor& t = kv.second;
    if (Tensor::count(t.shape) != t.numel())
      throw_error(path, ": tensor '", echo(kv.first), "' has ", t.numel(), " values but shape ", shape_to_string(t.shape));
    SafeTensor st;
    st.dtype = "F32";
    st.shape = t.shape;
    const uint8_t* p = reinterpret_cast<const uint8_t*>(t.ptr());
    st.data.assign(p, p + t.data.size() * sizeof(float));
    f.tensors.emplace(kv.first, std::move(st));
  }
  write_safetensors(path, f);
}

}  // namespace dice
