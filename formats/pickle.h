// A data-only unpickler: turns a Python pickle (protocols 0-5, the opcodes torch and numpy emit)
// into a tree of generic values without running anything.
//
// Safety model: a pickle is a program, and GLOBAL + REDUCE is how it calls arbitrary Python
// (os.system, eval, ...). Here GLOBAL/STACK_GLOBAL are checked against an allow-list the caller
// passes in ("module.name"); any other global is refused with an error saying the file may be
// malicious. REDUCE/NEWOBJ never call anything: they build a Call node (callable + args) that the
// caller interprets (e.g. torch._utils._rebuild_tensor_v2). One exception keeps the tree simple:
// collections.OrderedDict() with no arguments becomes a plain (ordered) Dict.
//
// Robustness: stack size, memo size, node count and element counts are bounded; a container may
// not be made to contain itself (a cycle would leak shared_ptrs and hang tree walks); destroying a
// deeply nested tree does not recurse. Every error is a dice::Error naming the file.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace dice {

struct PyValue;
using PyRef = std::shared_ptr<PyValue>;

struct PyValue {
  enum class Kind { None, Bool, Int, Float, String, Bytes, List, Tuple, Dict, Set, Global, Call, PersistentId };

  Kind kind = Kind::None;
  bool b = false;
  int64_t i = 0;       // Int that fits int64 (big == false)
  bool big = false;    // Int too large for int64: `str` holds its little-endian two's complement bytes
  double f = 0;
  std::string str;     // String (UTF-8), Bytes, Global module
  std::string name;    // Global name
  std::vector<PyRef> items;                      // List, Tuple, Set; Call: APPEND(S) onto an object
  std::vector<std::pair<PyRef, PyRef>> entries;  // Dict (insertion order); Call: SETITEM(S)
  PyRef callable;      // Call: a Global
  PyRef args;          // Call: a Tuple
  PyRef state;         // set by BUILD on a Call (or any object)
  PyRef pid;           // PersistentId: the persistent id value

  PyValue() = default;
  explicit PyValue(Kind k) : kind(k) {}
  PyValue(const PyValue&) = delete;
  PyValue& operator=(const PyValue&) = delete;
  ~PyValue();  // iterative teardown: no recursion however deep the tree

  bool is(Kind k) const { return kind == k; }
  bool is_global(const std::string& module_dot_name) const;  // Global "module.name"
  bool is_call_of(const std::string& module_dot_name) const;  // Call whose callable is that Global
  // Dict lookup by string key (the last of repeated keys); nullptr when absent or not a Dict.
  PyRef get(const std::string& key) const;
  std::string kind_name() const;
  // Short Python-like rendering for error messages (depth- and length-limited).
  std::string repr(int max_depth = 3) const;
};

struct PickleLimits {
  size_t max_stack = 1 << 20;
  size_t max_memo = 1 << 22;
  size_t max_nodes = 1 << 22;  // ~1 GB of PyValues; real checkpoints and CIFAR batches use < 1e5
  size_t max_string = size_t(1) << 31;  // one string or bytes object
};

// Unpickles `data` (one pickle, up to its STOP). `allowed_globals` holds "module.name" strings.
// `name_for_errors` prefixes every error (the file path). `*consumed`, if given, receives the
// number of bytes read (the offset just after STOP), for files holding several pickles.
PyRef unpickle(const uint8_t* data, size_t size, const std::set<std::string>& allowed_globals,
               const std::string& name_for_errors, size_t* consumed = nullptr,
               const PickleLimits& limits = PickleLimits());

}  // namespace dice
