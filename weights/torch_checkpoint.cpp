// torch checkpoint reader (see torch_checkpoint.h for the two layouts and the policy).
// Two phases: the object pickle is walked to collect one TensorSpec per state-dict entry (storage
// key, dtype, offset, size, stride); then storages are fetched (zip member / legacy trailing
// block) and each tensor is gathered into float32, with every index checked against the storage.
#include "weights/torch_checkpoint.h"

#include <cstring>
#include <map>
#include <set>

#include "core/echo.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/limits.h"
#include "formats/byte_reader.h"
#include "formats/half.h"
#include "formats/pickle.h"
#include "formats/zip.h"

namespace dice {

namespace {

using Kind = PyValue::Kind;
constexpr int kMaxDims = 16;
constexpr int64_t kMaxElements = int64_t(1) << 34;

}  // namespace

const std::set<std::string>& torch_allowed_globals() {
  static const std::set<std::string> g = {
      "collections.OrderedDict",
      "torch._utils._rebuild_tensor",
      "torch._utils._rebuild_tensor_v2",
      "torch._utils._rebuild_parameter",
      "torch.FloatStorage", "torch.DoubleStorage", "torch.HalfStorage", "torch.BFloat16Storage",
      "torch.LongStorage", "torch.IntStorage", "torch.ShortStorage", "torch.CharStorage",
      "torch.ByteStorage", "torch.BoolStorage",
      // numpy scalars/arrays sometimes stored beside the weights (e.g. 'best_prec1'); kept as
      // inert Call nodes and ignored.
      "numpy.core.multiarray.scalar", "numpy.core.multiarray._reconstruct", "numpy.ndarray",
      "numpy.dtype",
      // protocol-2 pickles spell bytes objects (inside numpy scalars) as _codecs.encode(str, 'latin1').
      "_codecs.encode",
  };
  return g;
}

namespace {

const std::set<std::string>& allowed_globals() { return torch_allowed_globals(); }

struct DType {
  const char* name;
  size_t size;
};

// torch.XStorage -> element type. Returns false for anything else.
bool storage_dtype(const PyValue& g, DType* out) {
  static const std::map<std::string, DType> table = {
      {"FloatStorage", {"F32", 4}}, {"DoubleStorage", {"F64", 8}}, {"HalfStorage", {"F16", 2}},
      {"BFloat16Storage", {"BF16", 2}}, {"LongStorage", {"I64", 8}}, {"IntStorage", {"I32", 4}},
      {"ShortStorage", {"I16", 2}}, {"CharStorage", {"I8", 1}}, {"ByteStorage", {"U8", 1}},
      {"BoolStorage", {"BOOL", 1}}};
  if (g.kind != Kind::Global || g.str != "torch") return false;
  auto it = table.find(g.name);
  if (it == table.end()) return false;
  *out = it->second;
  return true;
}

struct StorageRef {
  std::string key;
  DType dtype{"", 0};
  int64_t view_offset = 0;  // legacy storage views: element offset into the root storage
  int64_t view_size = -1;   // elements visible through the view (-1: the whole storage)
};

struct TensorSpec {
  std::string name;
  StorageRef storage;
  int64_t offset = 0;
  std::vector<int64_t> size, stride;
};

class Walker {
 public:
  explicit Walker(const std::string& path) : path_(path) {}

  [[noreturn]] void bad(const std::string& what) const {
    throw_error(path_, ": unexpected checkpoint structure (", what,
                "); expected a state dict of tensors saved with torch.save");
  }

  int64_t as_int(const PyRef& v, const char* what) const {
    if (!v || v->kind != Kind::Int || v->big) bad(std::string(what) + " is not an integer");
    return v->i;
  }
  std::vector<int64_t> int_tuple(const PyRef& v, const char* what) const {
    if (!v || (v->kind != Kind::Tuple && v->kind != Kind::List)) bad(std::string(what) + " is not a tuple");
    if (v->items.size() > kMaxDims) bad(std::string(what) + " has too many dimensions");
    std::vector<int64_t> out;
    for (const auto& x : v->items) out.push_back(as_int(x, what));
    return out;
  }

  StorageRef storage(const PyRef& p) {
    if (!p || p->kind != Kind::PersistentId || !p->pid || p->pid->kind != Kind::Tuple)
      bad("tensor storage is not a persistent id");
    const auto& t = p->pid->items;
    if (t.size() < 5 || t[0]->kind != Kind::String || t[0]->str != "storage")
      bad("storage persistent id is not ('storage', type, key, location, numel)");
    StorageRef s;
    if (!storage_dtype(*t[1], &s.dtype)) bad("unknown storage type " + t[1]->repr());
    if (t[2]->kind != Kind::String) bad("storage key is not a string");
    s.key = t[2]->str;
    int64_t numel = as_int(t[4], "storage size");
    if (numel < 0) bad("negative storage size");
    if (t.size() >= 6 && t[5]->kind == Kind::Tuple) {  // legacy view: (view_key, offset, size)
      const auto& v = t[5]->items;
      if (v.size() != 3) bad("storage view metadata is not (key, offset, size)");
      s.view_offset = as_int(v[1], "storage view offset");
      s.view_size = as_int(v[2], "storage view size");
      if (s.view_offset < 0 || s.view_size < 0) bad("negative storage view");
    }
    auto it = used_.find(s.key);
    if (it != used_.end() && std::strcmp(it->second.name, s.dtype.name) != 0)
      bad("storage '" + s.key + "' is used with two different types");
    used_[s.key] = s.dtype;
    return s;
  }

  // Registers the type of every storage the object refers to, including those of tensors outside
  // the state dict (an optimizer's buffers): the legacy format stores them all, and skipping one
  // needs its element size. Iterative with a visited set, so shared or deep graphs are cheap.
  void register_all_storages(const PyRef& root) {
    std::vector<const PyValue*> todo{root.get()};
    std::set<const PyValue*> seen;
    while (!todo.empty()) {
      const PyValue* n = todo.back();
      todo.pop_back();
      if (!n || !seen.insert(n).second) continue;
      if (n->kind == Kind::PersistentId && n->pid && n->pid->kind == Kind::Tuple) {
        const auto& t = n->pid->items;
        DType dt{"", 0};
        if (t.size() >= 5 && t[2]->kind == Kind::String && storage_dtype(*t[1], &dt) && !declared_.count(t[2]->str))
          declared_[t[2]->str] = dt;
        continue;
      }
      for (const auto& c : n->items) todo.push_back(c.get());
      for (const auto& kv : n->entries) {
        todo.push_back(kv.first.get());
        todo.push_back(kv.second.get());
      }
      for (const PyRef* c : {&n->callable, &n->args, &n->state}) todo.push_back(c->get());
    }
  }

  // Tensor rebuild calls; false if `v` is not a tensor at all.
  bool tensor(const PyRef& v, TensorSpec* spec, int depth = 0) {
    if (!v || v->kind != Kind::Call || depth > 4) return false;
    const auto& a = v->args->items;
    if (v->is_call_of("torch._utils._rebuild_parameter")) {
      if (a.empty()) bad("_rebuild_parameter without arguments");
      return tensor(a[0], spec, depth + 1);
    }
    if (!v->is_call_of("torch._utils._rebuild_tensor_v2") && !v->is_call_of("torch._utils._rebuild_tensor"))
      return false;
    if (a.size() < 4) bad("tensor rebuild call with too few arguments");
    spec->storage = storage(a[0]);
    spec->offset = as_int(a[1], "storage offset");
    spec->size = int_tuple(a[2], "tensor size");
    spec->stride = int_tuple(a[3], "tensor stride");
    if (spec->size.size() != spec->stride.size()) bad("tensor size and stride differ in length");
    return true;
  }

  std::map<std::string, DType> used_;      // storages of the state dict's tensors
  std::map<std::string, DType> declared_;  // every storage the object mentions

 private:
  const std::string& path_;
};

// Converts element `i` of a storage to float.
inline float element(const uint8_t* base, const char* dt, size_t i) {
  switch (dt[0]) {
    case 'F':
      if (dt[1] == '3') { float v; std::memcpy(&v, base + 4 * i, 4); return v; }
      if (dt[1] == '6') { double v; std::memcpy(&v, base + 8 * i, 8); return static_cast<float>(v); }
      { uint16_t v; std::memcpy(&v, base + 2 * i, 2); return half_to_float(v); }
    case 'B':
      if (dt[1] == 'F') { uint16_t v; std::memcpy(&v, base + 2 * i, 2); return bf16_to_float(v); }
      return base[i] ? 1.0f : 0.0f;  // BOOL
    case 'I':
      if (dt[1] == '6') { int64_t v; std::memcpy(&v, base + 8 * i, 8); return static_cast<float>(v); }
      if (dt[1] == '3') { int32_t v; std::memcpy(&v, base + 4 * i, 4); return static_cast<float>(v); }
      if (dt[1] == '1') { int16_t v; std::memcpy(&v, base + 2 * i, 2); return static_cast<float>(v); }
      return static_cast<float>(static_cast<int8_t>(base[i]));
    case 'U': return static_cast<float>(base[i]);
  }
  return 0.0f;
}

// Gathers a (possibly strided) view of a storage into a contiguous float32 tensor.
// `budget`: what is left of the elements all tensors of the file may expand to (see build());
// `gathered`: the bytes of the tensors so far, which DICE_MAX_INPUT_MB bounds absolutely.
Tensor gather(const std::string& path, const TensorSpec& s, const std::vector<uint8_t>& bytes,
              int64_t* budget, uint64_t* gathered) {
  auto bad = [&](const std::string& what) {
    throw_error(path, ": tensor '", echo(s.name), "' ", what, "; the checkpoint is corrupt or truncated");
  };
  const size_t item = s.storage.dtype.size;
  int64_t avail = static_cast<int64_t>(bytes.size() / item);
  int64_t base = s.storage.view_offset;
  if (base > avail) bad("has a storage view beyond its storage");
  avail -= base;
  if (s.storage.view_size >= 0) {
    if (s.storage.view_size > avail) bad("has a storage view beyond its storage");
    avail = s.storage.view_size;
  }
  if (s.offset < 0) bad("has a negative storage offset");
  int64_t numel = 1;
  for (size_t d = 0; d < s.size.size(); ++d) {
    if (s.size[d] < 0 || s.stride[d] < 0) bad("has a negative size or stride");
    if (s.size[d] != 0 && numel > kMaxElements / s.size[d]) bad("is implausibly large");
    numel *= s.size[d];
  }
  if (numel > *budget)
    bad("expands to more elements than the whole checkpoint holds (overlapping strides)");
  *budget -= numel;
  *gathered += static_cast<uint64_t>(numel) * sizeof(float);
  if (*gathered > max_input_bytes()) throw_input_limit(path, "gathering its float32 tensors", *gathered);
  Tensor t;
  t.shape = s.size;
  if (numel == 0) return t;
  // Largest index touched: offset + sum (size-1)*stride, checked for overflow and range.
  int64_t last = s.offset;
  for (size_t d = 0; d < s.size.size(); ++d) {
    int64_t span = s.size[d] - 1;
    if (span > 0 && s.stride[d] > (avail - last) / span) bad("reads beyond its storage");
    last += span * s.stride[d];
  }
  if (last >= avail) bad("reads beyond its storage");
  t.data.resize(static_cast<size_t>(numel));
  const uint8_t* src = bytes.data() + static_cast<size_t>(base) * item;
  const char* dt = s.storage.dtype.name;
  const size_t nd = s.size.size();
  std::vector<int64_t> idx(nd, 0);
  int64_t pos = s.offset;
  for (int64_t i = 0; i < numel; ++i) {
    t.data[static_cast<size_t>(i)] = element(src, dt, static_cast<size_t>(pos));
    for (size_t d = nd; d-- > 0;) {  // odometer over the multi-index
      if (++idx[d] < s.size[d]) {
        pos += s.stride[d];
        break;
      }
      pos -= (s.size[d] - 1) * s.stride[d];
      idx[d] = 0;
    }
  }
  return t;
}

// Picks the state dict out of the unpickled object and lists its tensors.
std::vector<TensorSpec> collect(const std::string& path, const PyRef& root, Walker& w,
                                std::map<std::string, std::string>* metadata) {
  if (!root || root->kind != Kind::Dict)
    throw_error(path, ": the checkpoint holds a ", root ? root->kind_name() : "nothing",
                ", not a dict of tensors; save model.state_dict() with torch.save");
  PyRef sd = root;
  for (const char* k : {"state_dict", "model_state_dict", "model", "net"}) {
    PyRef v = root->get(k);
    if (v && v->kind == Kind::Dict) {
      sd = v;
      // Scalars beside the state dict (epoch, accuracy, arch) are kept as metadata.
      for (const auto& kv : root->entries) {
        if (kv.first->kind != Kind::String) continue;
        const PyValue& x = *kv.second;
        if (x.kind == Kind::Int && !x.big) (*metadata)[kv.first->str] = std::to_string(x.i);
        else if (x.kind == Kind::String) (*metadata)[kv.first->str] = x.str;
        else if (x.kind == Kind::Float) {
          char buf[32];
          std::snprintf(buf, sizeof buf, "%.17g", x.f);
          (*metadata)[kv.first->str] = buf;
        }
      }
      break;
    }
  }
  std::vector<TensorSpec> specs;
  std::set<std::string> seen;
  for (const auto& kv : sd->entries) {
    TensorSpec s;
    if (!w.tensor(kv.second, &s)) continue;  // non-tensor extras are ignored
    if (kv.first->kind != Kind::String) w.bad("a tensor key is not a string");
    s.name = kv.first->str;
    if (!seen.insert(s.name).second) w.bad("tensor '" + s.name + "' appears twice");
    specs.push_back(std::move(s));
  }
  if (specs.empty())
    throw_error(path, ": no tensors found in the checkpoint; expected a state dict (or {'state_dict': ...}) "
                "saved with torch.save");
  // nn.DataParallel saves every key as "module.<name>".
  bool all_module = true;
  for (const auto& s : specs) all_module = all_module && s.name.compare(0, 7, "module.") == 0;
  if (all_module)
    for (auto& s : specs) s.name.erase(0, 7);
  return specs;
}

// The output is bounded by the storages' size: stride-0 views and many tensors sharing one
// storage could otherwise expand a small file into any amount of float32. A real state dict
// expands to at most its storages' elements (tied weights twice), at most their byte count.
StateDict build(const std::string& path, const std::vector<TensorSpec>& specs,
                const std::map<std::string, std::vector<uint8_t>>& storages,
                std::map<std::string, std::string> metadata) {
  int64_t budget = int64_t(1) << 20;
  for (const auto& kv : storages) budget += 2 * static_cast<int64_t>(kv.second.size());
  uint64_t gathered = 0;  // bytes; all tensors together stay within DICE_MAX_INPUT_MB (gather)
  StateDict sd;
  sd.source = path;
  sd.metadata = std::move(metadata);
  for (const auto& s : specs) {
    auto it = storages.find(s.storage.key);
    if (it == storages.end())
      throw_error(path, ": storage '", echo(s.storage.key), "' of tensor '", s.name,
                  "' is missing; the checkpoint is truncated or corrupt, re-download or re-save it");
    if (!sd.tensors.emplace(s.name, gather(path, s, it->second, &budget, &gathered)).second)
      throw_error(path, ": tensor '", echo(s.name), "' appears twice after removing the 'module.' prefix");
  }
  return sd;
}

StateDict load_zip(const std::string& path, std::vector<uint8_t> bytes) {
  ZipArchive z = ZipArchive::from_bytes(std::move(bytes), path);
  std::string prefix;
  bool found = false;
  for (const auto& n : z.names()) {
    size_t slash = n.find('/');
    if (slash != std::string::npos && n.compare(slash + 1, std::string::npos, "data.pkl") == 0) {
      if (found) throw_error(path, ": zip archive holds several data.pkl files; expected one torch checkpoint");
      prefix = n.substr(0, slash + 1);
      found = true;
    }
  }
  if (!found)
    throw_error(path, ": zip archive without <folder>/data.pkl: not a torch checkpoint (save with torch.save)");
  if (z.has(prefix + "byteorder")) {
    std::vector<uint8_t> bo = z.read(prefix + "byteorder");
    if (std::string(bo.begin(), bo.end()) != "little")
      throw_error(path, ": checkpoint was written on a big-endian machine; re-save it on a little-endian one");
  }
  std::vector<uint8_t> pkl = z.read(prefix + "data.pkl");
  PyRef root = unpickle(pkl.data(), pkl.size(), allowed_globals(), path);
  Walker w(path);
  std::map<std::string, std::string> meta;
  std::vector<TensorSpec> specs = collect(path, root, w, &meta);
  std::map<std::string, std::vector<uint8_t>> storages;
  uint64_t inflated = 0;  // all storages together stay within DICE_MAX_INPUT_MB
  for (const auto& s : specs) {
    if (storages.count(s.storage.key)) continue;
    std::string member = prefix + "data/" + s.storage.key;
    if (!z.has(member))
      throw_error(path, ": storage '", echo(s.storage.key), "' of tensor '", echo(s.name),
                  "' is missing from the archive; the checkpoint is incomplete, re-download or re-save it");
    inflated += z.entry(member).uncompressed_size;
    if (inflated > max_input_bytes()) throw_input_limit(path, "inflating the storages", inflated);
    storages[s.storage.key] = z.read(member);
  }
  return build(path, specs, storages, std::move(meta));
}

// The legacy magic number 0x1950a86a20f9469cfc6c as LONG1 little-endian bytes.
const uint8_t kLegacyMagic[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

StateDict load_legacy(const std::string& path, const std::vector<uint8_t>& bytes) {
  size_t pos = 0, used = 0;
  auto next = [&](const std::set<std::string>& allowed) {
    PyRef v = unpickle(bytes.data() + pos, bytes.size() - pos, allowed, path, &used);
    pos += used;
    return v;
  };
  static const std::set<std::string> none;
  PyRef magic = next(none);
  if (magic->kind != Kind::Int || !magic->big || magic->str.size() != 10 ||
      std::memcmp(magic->str.data(), kLegacyMagic, 10) != 0)
    throw_error(path, ": not a torch checkpoint (bad legacy magic number); expected a file saved with torch.save");
  PyRef proto = next(none);
  if (proto->kind != Kind::Int || proto->i != 1001)
    throw_error(path, ": unsupported torch legacy protocol version ", proto->repr(),
                "; re-save the checkpoint with a recent torch");
  PyRef sys = next(none);
  PyRef le = sys->get("little_endian");
  if (le && le->kind == Kind::Bool && !le->b)
    throw_error(path, ": checkpoint was written on a big-endian machine; re-save it on a little-endian one");
  PyRef root = next(allowed_globals());
  PyRef keys = next(none);
  if (keys->kind != Kind::List) throw_error(path, ": corrupt legacy checkpoint (storage key list missing)");

  Walker w(path);
  std::map<std::string, std::string> meta;
  std::vector<TensorSpec> specs = collect(path, root, w, &meta);
  w.register_all_storages(root);
  std::map<std::string, std::vector<uint8_t>> storages;
  ByteReader r(bytes.data(), bytes.size(), path, "torch legacy checkpoint");
  r.seek(pos);
  for (const auto& k : keys->items) {
    if (k->kind != Kind::String) throw_error(path, ": corrupt legacy checkpoint (storage key is not a string)");
    auto dt = w.declared_.find(k->str);
    if (dt == w.declared_.end())
      throw_error(path, ": corrupt legacy checkpoint (storage '", echo(k->str), "' is listed but never referenced)");
    uint64_t count = r.u64();
    if (count > r.remaining() / dt->second.size)
      throw_error(path, ": truncated legacy checkpoint (storage '", echo(k->str), "' needs ", count, " elements, ",
                  r.remaining() / dt->second.size, " present); re-download or re-save it");
    const uint8_t* d = r.take(static_cast<size_t>(count) * dt->second.size);
    if (!w.used_.count(k->str)) continue;  // e.g. optimizer state: skipped
    if (storages.count(k->str)) throw_error(path, ": corrupt legacy checkpoint (storage '", echo(k->str), "' twice)");
    storages[k->str].assign(d, d + count * dt->second.size);
  }
  return build(path, specs, storages, std::move(meta));
}

}  // namespace

StateDict load_torch_checkpoint(const std::string& path) { return load_torch_checkpoint(read_file(path), path); }

StateDict load_torch_checkpoint(std::vector<uint8_t> bytes, const std::string& path) {
  if (is_zip(bytes.data(), bytes.size())) return load_zip(path, std::move(bytes));
  if (bytes.size() >= 2 && bytes[0] == 0x80) return load_legacy(path, bytes);
  if (bytes.size() > 262 && std::memcmp(bytes.data() + 257, "ustar", 5) == 0)
    throw_error(path, ": tar-format torch checkpoint (torch < 0.4) is not supported; load and re-save it with "
                "a recent torch.save");
  throw_error(path, ": not a torch checkpoint (neither zip nor legacy pickle); expected a file saved with torch.save");
}

}  // namespace dice
