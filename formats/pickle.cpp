// Data-only unpickler (see pickle.h). The opcode semantics follow CPython's Lib/pickle.py
// (_Unpickler.load_*); opcode bytes are listed in the enum below with their protocol.
#include "formats/pickle.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "core/echo.h"
#include "core/error.h"
#include "formats/byte_reader.h"

namespace dice {

// ---- PyValue ----

PyValue::~PyValue() {
  // Move every uniquely owned child into a work list and release them one at a time after
  // emptying their own children, so a chain a million levels deep never recurses.
  std::vector<PyRef> pending;
  auto harvest = [&pending](PyValue& v) {
    auto take = [&pending](PyRef& r) {
      if (r && r.use_count() == 1) pending.push_back(std::move(r));
      r.reset();
    };
    for (auto& c : v.items) take(c);
    for (auto& kv : v.entries) {
      take(kv.first);
      take(kv.second);
    }
    take(v.callable);
    take(v.args);
    take(v.state);
    take(v.pid);
    v.items.clear();
    v.entries.clear();
  };
  harvest(*this);
  while (!pending.empty()) {
    PyRef n = std::move(pending.back());
    pending.pop_back();
    harvest(*n);
  }
}

bool PyValue::is_global(const std::string& full) const {
  return kind == Kind::Global && full.size() == str.size() + 1 + name.size() &&
         full.compare(0, str.size(), str) == 0 && full[str.size()] == '.' &&
         full.compare(str.size() + 1, std::string::npos, name) == 0;
}

bool PyValue::is_call_of(const std::string& full) const {
  return kind == Kind::Call && callable && callable->is_global(full);
}

PyRef PyValue::get(const std::string& key) const {
  if (kind != Kind::Dict) return nullptr;
  for (auto it = entries.rbegin(); it != entries.rend(); ++it)  // last wins, as in Python
    if (it->first && it->first->kind == Kind::String && it->first->str == key) return it->second;
  return nullptr;
}

std::string PyValue::kind_name() const {
  switch (kind) {
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::String: return "str";
    case Kind::Bytes: return "bytes";
    case Kind::List: return "list";
    case Kind::Tuple: return "tuple";
    case Kind::Dict: return "dict";
    case Kind::Set: return "set";
    case Kind::Global: return "global";
    case Kind::Call: return "object";
    case Kind::PersistentId: return "persistent id";
  }
  return "?";
}

std::string PyValue::repr(int max_depth) const {
  auto sub = [&](const PyRef& r) { return r ? r->repr(max_depth - 1) : std::string("<null>"); };
  auto seq = [&](const std::vector<PyRef>& v, const char* open, const char* close) {
    if (max_depth <= 0) return std::string(open) + "..." + close;
    std::string s = open;
    for (size_t k = 0; k < v.size() && k < 8; ++k) s += (k ? ", " : "") + sub(v[k]);
    if (v.size() > 8) s += ", ...";
    return s + close;
  };
  switch (kind) {
    case Kind::None: return "None";
    case Kind::Bool: return b ? "True" : "False";
    case Kind::Int: return big ? "<big int>" : std::to_string(i);
    case Kind::Float: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%g", f);
      return buf;
    }
    case Kind::String: return "'" + (str.size() > 60 ? str.substr(0, 60) + "..." : str) + "'";
    case Kind::Bytes: return "b<" + std::to_string(str.size()) + " bytes>";
    case Kind::List: return seq(items, "[", "]");
    case Kind::Tuple: return seq(items, "(", ")");
    case Kind::Set: return seq(items, "{", "}");
    case Kind::Dict: {
      if (max_depth <= 0) return "{...}";
      std::string s = "{";
      for (size_t k = 0; k < entries.size() && k < 8; ++k)
        s += (k ? ", " : "") + sub(entries[k].first) + ": " + sub(entries[k].second);
      if (entries.size() > 8) s += ", ...";
      return s + "}";
    }
    case Kind::Global: return str + "." + name;
    case Kind::Call: return sub(callable) + sub(args);
    case Kind::PersistentId: return "persistent_id" + sub(pid);
  }
  return "?";
}

// ---- unpickler ----

namespace {

enum Op : uint8_t {
  MARK = '(', STOP = '.', POP = '0', POP_MARK = '1', DUP = '2', FLOAT = 'F', INT = 'I',
  BININT = 'J', BININT1 = 'K', LONG = 'L', BININT2 = 'M', NONE = 'N', PERSID = 'P',
  BINPERSID = 'Q', REDUCE = 'R', STRING = 'S', BINSTRING = 'T', SHORT_BINSTRING = 'U',
  UNICODE = 'V', BINUNICODE = 'X', APPEND = 'a', BUILD = 'b', GLOBAL = 'c', DICT = 'd',
  EMPTY_DICT = '}', APPENDS = 'e', GET = 'g', BINGET = 'h', INST = 'i', LONG_BINGET = 'j',
  LIST = 'l', EMPTY_LIST = ']', OBJ = 'o', PUT = 'p', BINPUT = 'q', LONG_BINPUT = 'r',
  SETITEM = 's', TUPLE = 't', EMPTY_TUPLE = ')', SETITEMS = 'u', BINFLOAT = 'G',
  // protocol 2
  PROTO = 0x80, NEWOBJ = 0x81, EXT1 = 0x82, EXT2 = 0x83, EXT4 = 0x84, TUPLE1 = 0x85,
  TUPLE2 = 0x86, TUPLE3 = 0x87, NEWTRUE = 0x88, NEWFALSE = 0x89, LONG1 = 0x8a, LONG4 = 0x8b,
  // protocol 3
  BINBYTES = 'B', SHORT_BINBYTES = 'C',
  // protocol 4
  SHORT_BINUNICODE = 0x8c, BINUNICODE8 = 0x8d, BINBYTES8 = 0x8e, EMPTY_SET = 0x8f,
  ADDITEMS = 0x90, FROZENSET = 0x91, NEWOBJ_EX = 0x92, STACK_GLOBAL = 0x93, MEMOIZE = 0x94,
  FRAME = 0x95,
  // protocol 5
  BYTEARRAY8 = 0x96, NEXT_BUFFER = 0x97, READONLY_BUFFER = 0x98,
};

using Kind = PyValue::Kind;

class Unpickler {
 public:
  Unpickler(const uint8_t* data, size_t size, const std::set<std::string>& allowed,
            const std::string& name, const PickleLimits& lim)
      : r_(data, size, name, "pickle"), allowed_(allowed), name_(name), lim_(lim) {}

  PyRef run(size_t* consumed) {
    for (;;) {
      size_t at = r_.pos();
      uint8_t op = r_.u8();
      op_pos_ = at;
      if (op == STOP) {
        if (stack_.empty()) fail("STOP with an empty stack");
        if (consumed) *consumed = r_.pos();
        return stack_.back();
      }
      step(op);
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw_error(name_, ": corrupt pickle (", what, " at byte ", op_pos_,
                "); the file is damaged or not a checkpoint this tool can read");
  }

  PyRef node(Kind k) {
    if (++nodes_ > lim_.max_nodes) fail("too many objects");
    return std::make_shared<PyValue>(k);
  }
  void push(PyRef v) {
    if (stack_.size() >= lim_.max_stack) fail("stack too deep");
    stack_.push_back(std::move(v));
  }
  PyRef pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) fail("stack underflow");
    PyRef v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  PyRef& top() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) fail("stack underflow");
    return stack_.back();
  }
  std::vector<PyRef> pop_mark() {
    if (marks_.empty()) fail("missing MARK");
    size_t m = marks_.back();
    marks_.pop_back();
    std::vector<PyRef> out(std::make_move_iterator(stack_.begin() + static_cast<std::ptrdiff_t>(m)),
                           std::make_move_iterator(stack_.end()));
    stack_.resize(m);
    return out;
  }

  // A newline-terminated argument of the text (protocol 0) opcodes, without the newline.
  std::string line() {
    const uint8_t* s = r_.here();
    const void* nl = std::memchr(s, '\n', r_.remaining());
    if (!nl) fail("unterminated text argument");
    size_t n = static_cast<const uint8_t*>(nl) - s;
    std::string out = r_.str(n);
    r_.skip(1);
    if (!out.empty() && out.back() == '\r') out.pop_back();
    return out;
  }
  std::string bytes_arg(uint64_t n) {
    if (n > lim_.max_string) fail("string too long");
    if (n > r_.remaining()) fail("string runs past the end of the data");
    return r_.str(static_cast<size_t>(n));
  }

  PyRef make_int(int64_t v) {
    PyRef n = node(Kind::Int);
    n->i = v;
    return n;
  }
  PyRef make_bool(bool v) {
    PyRef n = node(Kind::Bool);
    n->b = v;
    return n;
  }
  PyRef make_str(Kind k, std::string s) {
    PyRef n = node(k);
    n->str = std::move(s);
    return n;
  }

  int64_t parse_decimal(const std::string& s) {
    std::string t = s;
    if (!t.empty() && t.back() == 'L') t.pop_back();
    if (t.empty()) fail("empty integer");
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(t.c_str(), &end, 10);
    if (errno == ERANGE) fail("integer too large");
    if (*end != '\0') fail("bad integer text '" + t.substr(0, 20) + "'");
    return v;
  }

  // Python-literal string of protocol 0 STRING: quoted, with backslash escapes.
  std::string unquote(const std::string& s) {
    if (s.size() < 2 || (s[0] != '\'' && s[0] != '"') || s.back() != s[0]) fail("bad STRING quoting");
    std::string out;
    for (size_t k = 1; k + 1 < s.size(); ++k) {
      char c = s[k];
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (++k >= s.size() - 1) fail("bad escape in STRING");
      char e = s[k];
      switch (e) {
        case 'n': out.push_back('\n'); break;
        case 't': out.push_back('\t'); break;
        case 'r': out.push_back('\r'); break;
        case '\\': out.push_back('\\'); break;
        case '\'': out.push_back('\''); break;
        case '"': out.push_back('"'); break;
        case 'x': {
          if (k + 3 > s.size() - 1) fail("bad \\x escape in STRING");
          out.push_back(static_cast<char>(std::strtol(s.substr(k + 1, 2).c_str(), nullptr, 16)));
          k += 2;
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            int v = 0, d = 0;
            while (d < 3 && k < s.size() - 1 && s[k] >= '0' && s[k] <= '7') v = v * 8 + (s[k++] - '0'), ++d;
            --k;
            out.push_back(static_cast<char>(v));
          } else {
            out.push_back('\\');
            out.push_back(e);
          }
      }
    }
    return out;
  }


  // raw-unicode-escape (protocol 0 UNICODE): \uXXXX and \UXXXXXXXX escapes, other bytes latin-1.
  std::string raw_unicode(const std::string& s) {
    std::string out;
    for (size_t k = 0; k < s.size(); ++k) {
      if (s[k] == '\\' && k + 1 < s.size() && (s[k + 1] == 'u' || s[k + 1] == 'U')) {
        size_t n = s[k + 1] == 'u' ? 4 : 8;
        if (k + 2 + n > s.size()) fail("bad \\u escape in UNICODE");
        uint32_t cp = 0;
        for (size_t d = 0; d < n; ++d) {
          char c = s[k + 2 + d];
          int v = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
          if (v < 0) fail("bad \\u escape in UNICODE");
          cp = cp << 4 | static_cast<uint32_t>(v);
        }
        if (cp > 0x10ffff) fail("code point out of range in UNICODE");
        append_utf8(out, cp);
        k += 1 + n;
      } else {
        append_utf8(out, static_cast<unsigned char>(s[k]));
      }
    }
    return out;
  }

  // LONG1/LONG4 payload: little-endian two's complement of any length.
  PyRef make_long(const std::string& bytes) {
    PyRef n = node(Kind::Int);
    if (bytes.empty()) return n;  // 0
    // Drop redundant sign-extension bytes, then see whether it fits int64.
    bool neg = static_cast<unsigned char>(bytes.back()) & 0x80;
    size_t len = bytes.size();
    unsigned char ext = neg ? 0xff : 0x00;
    while (len > 1 && static_cast<unsigned char>(bytes[len - 1]) == ext &&
           ((static_cast<unsigned char>(bytes[len - 2]) & 0x80) != 0) == neg)
      --len;
    if (len <= 8) {
      uint64_t v = neg ? ~uint64_t(0) : 0;
      for (size_t k = 0; k < len; ++k) {
        v &= ~(uint64_t(0xff) << (8 * k));
        v |= uint64_t(static_cast<unsigned char>(bytes[k])) << (8 * k);
      }
      std::memcpy(&n->i, &v, 8);
    } else {
      n->big = true;
      n->str = bytes.substr(0, len);
    }
    return n;
  }

  void check_global(const std::string& module, const std::string& gname) {
    std::string full = module + "." + gname;
    if (!allowed_.count(full))
      throw_error(name_, ": pickle refers to global '", echo(full),
                  "', which is not allowed; only tensor data can be loaded (this file may be malicious)");
  }
  PyRef make_global(const std::string& module, const std::string& gname) {
    check_global(module, gname);
    PyRef g = node(Kind::Global);
    g->str = module;
    g->name = gname;
    return g;
  }

  PyRef make_call(PyRef callable, PyRef args) {
    if (!args || args->kind != Kind::Tuple) fail("call arguments are not a tuple");
    if (callable->is_global("collections.OrderedDict") && args->items.empty()) return node(Kind::Dict);
    PyRef c = node(Kind::Call);
    c->callable = std::move(callable);
    c->args = std::move(args);
    return c;
  }

  // Refuses to make `container` reach itself through `v`. Only containers that were fetched a
  // second time (GET/DUP) can be inside another value, so only those are checked.
  void check_no_cycle(const PyValue* container, const PyRef& v) {
    if (!shared_.count(container) || !v) return;
    std::vector<const PyValue*> todo{v.get()};
    std::unordered_set<const PyValue*> seen;
    while (!todo.empty()) {
      const PyValue* n = todo.back();
      todo.pop_back();
      if (n == container) fail("a container is made to contain itself");
      if (!seen.insert(n).second) continue;
      if (++cycle_work_ > 4 * lim_.max_nodes + (1u << 20)) fail("object graph too complex");
      for (const auto& c : n->items) if (c) todo.push_back(c.get());
      for (const auto& kv : n->entries) {
        if (kv.first) todo.push_back(kv.first.get());
        if (kv.second) todo.push_back(kv.second.get());
      }
      for (const PyRef* c : {&n->callable, &n->args, &n->state, &n->pid})
        if (*c) todo.push_back(c->get());
    }
  }

  void memo_put(uint64_t idx) {
    if (stack_.empty()) fail("PUT with an empty stack");
    if (memo_.size() >= lim_.max_memo && !memo_.count(idx)) fail("memo too large");
    memo_[idx] = stack_.back();
  }
  void memo_get(uint64_t idx) {
    auto it = memo_.find(idx);
    if (it == memo_.end()) fail("memo key " + std::to_string(idx) + " not found");
    shared_.insert(it->second.get());
    push(it->second);
  }

  void append_to(PyRef& target, std::vector<PyRef> vals) {
    if (target->kind != Kind::List && target->kind != Kind::Call) fail("APPEND to a " + target->kind_name());
    for (auto& v : vals) {
      check_no_cycle(target.get(), v);
      target->items.push_back(std::move(v));
    }
  }
  void setitems_on(PyRef& target, std::vector<PyRef> kv) {
    if (target->kind != Kind::Dict && target->kind != Kind::Call) fail("SETITEM on a " + target->kind_name());
    if (kv.size() % 2) fail("odd number of items for SETITEMS");
    for (size_t k = 0; k < kv.size(); k += 2) {
      check_no_cycle(target.get(), kv[k]);
      check_no_cycle(target.get(), kv[k + 1]);
      // Repeated keys are kept (lookups take the last one, as Python's dict would); deduplicating
      // here would make hostile input quadratic.
      target->entries.emplace_back(std::move(kv[k]), std::move(kv[k + 1]));
    }
  }

  void step(uint8_t op) {
    switch (op) {
      case PROTO: {
        uint8_t v = r_.u8();
        if (v > 5) fail("unsupported pickle protocol " + std::to_string(v));
        break;
      }
      case FRAME: r_.u64(); break;  // framing is only a hint for buffered readers
      case MARK:
        if (marks_.size() >= lim_.max_stack) fail("too many MARKs");
        marks_.push_back(stack_.size());
        break;
      case POP:
        if (!stack_.empty() && (marks_.empty() || stack_.size() > marks_.back())) stack_.pop_back();
        else if (!marks_.empty()) pop_mark();
        else fail("POP on an empty stack");
        break;
      case POP_MARK: pop_mark(); break;
      case DUP: {
        PyRef t = top();
        shared_.insert(t.get());
        push(std::move(t));
        break;
      }
      case NONE: push(node(Kind::None)); break;
      case NEWTRUE: push(make_bool(true)); break;
      case NEWFALSE: push(make_bool(false)); break;
      case INT: {
        std::string s = line();
        if (s == "00") push(make_bool(false));
        else if (s == "01") push(make_bool(true));
        else push(make_int(parse_decimal(s)));
        break;
      }
      case BININT: push(make_int(static_cast<int32_t>(r_.u32()))); break;
      case BININT1: push(make_int(r_.u8())); break;
      case BININT2: push(make_int(r_.u16())); break;
      case LONG: push(make_int(parse_decimal(line()))); break;
      case LONG1: push(make_long(bytes_arg(r_.u8()))); break;
      case LONG4: {
        int32_t n = static_cast<int32_t>(r_.u32());
        if (n < 0) fail("negative LONG4 length");
        push(make_long(bytes_arg(static_cast<uint64_t>(n))));
        break;
      }
      case FLOAT: {
        std::string s = line();
        char* end = nullptr;
        double d = std::strtod(s.c_str(), &end);
        if (s.empty() || *end != '\0') fail("bad FLOAT text");
        PyRef n = node(Kind::Float);
        n->f = d;
        push(n);
        break;
      }
      case BINFLOAT: {
        const uint8_t* p = r_.take(8);
        uint64_t bits = 0;
        for (int k = 0; k < 8; ++k) bits = bits << 8 | p[k];  // big-endian
        PyRef n = node(Kind::Float);
        std::memcpy(&n->f, &bits, 8);
        push(n);
        break;
      }
      case STRING: push(make_str(Kind::String, unquote(line()))); break;
      case BINSTRING: {
        int32_t n = static_cast<int32_t>(r_.u32());
        if (n < 0) fail("negative BINSTRING length");
        push(make_str(Kind::String, bytes_arg(static_cast<uint64_t>(n))));
        break;
      }
      case SHORT_BINSTRING: push(make_str(Kind::String, bytes_arg(r_.u8()))); break;
      case UNICODE: push(make_str(Kind::String, raw_unicode(line()))); break;
      case BINUNICODE: push(make_str(Kind::String, bytes_arg(r_.u32()))); break;
      case SHORT_BINUNICODE: push(make_str(Kind::String, bytes_arg(r_.u8()))); break;
      case BINUNICODE8: push(make_str(Kind::String, bytes_arg(r_.u64()))); break;
      case BINBYTES: push(make_str(Kind::Bytes, bytes_arg(r_.u32()))); break;
      case SHORT_BINBYTES: push(make_str(Kind::Bytes, bytes_arg(r_.u8()))); break;
      case BINBYTES8: push(make_str(Kind::Bytes, bytes_arg(r_.u64()))); break;
      case BYTEARRAY8: push(make_str(Kind::Bytes, bytes_arg(r_.u64()))); break;
      case EMPTY_TUPLE: push(node(Kind::Tuple)); break;
      case TUPLE: {
        PyRef t = node(Kind::Tuple);
        t->items = pop_mark();
        push(t);
        break;
      }
      case TUPLE1:
      case TUPLE2:
      case TUPLE3: {
        size_t n = op - TUPLE1 + 1;
        PyRef t = node(Kind::Tuple);
        t->items.resize(n);
        for (size_t k = n; k-- > 0;) t->items[k] = pop();
        push(t);
        break;
      }
      case EMPTY_LIST: push(node(Kind::List)); break;
      case LIST: {
        PyRef l = node(Kind::List);
        l->items = pop_mark();
        push(l);
        break;
      }
      case APPEND: {
        PyRef v = pop();
        append_to(top(), {std::move(v)});
        break;
      }
      case APPENDS: {
        std::vector<PyRef> vals = pop_mark();
        append_to(top(), std::move(vals));
        break;
      }
      case EMPTY_DICT: push(node(Kind::Dict)); break;
      case DICT: {
        std::vector<PyRef> kv = pop_mark();
        PyRef d = node(Kind::Dict);
        setitems_on(d, std::move(kv));
        push(d);
        break;
      }
      case SETITEM: {
        PyRef v = pop();
        PyRef k = pop();
        setitems_on(top(), {std::move(k), std::move(v)});
        break;
      }
      case SETITEMS: {
        std::vector<PyRef> kv = pop_mark();
        setitems_on(top(), std::move(kv));
        break;
      }
      case EMPTY_SET: push(node(Kind::Set)); break;
      case ADDITEMS: {
        std::vector<PyRef> vals = pop_mark();
        PyRef& s = top();
        if (s->kind != Kind::Set) fail("ADDITEMS to a " + s->kind_name());
        for (auto& v : vals) {
          check_no_cycle(s.get(), v);
          s->items.push_back(std::move(v));
        }
        break;
      }
      case FROZENSET: {
        PyRef s = node(Kind::Set);
        s->items = pop_mark();
        push(s);
        break;
      }
      case PUT: memo_put(static_cast<uint64_t>(parse_decimal(line()))); break;
      case BINPUT: memo_put(r_.u8()); break;
      case LONG_BINPUT: memo_put(r_.u32()); break;
      case MEMOIZE: memo_put(memo_.size()); break;
      case GET: memo_get(static_cast<uint64_t>(parse_decimal(line()))); break;
      case BINGET: memo_get(r_.u8()); break;
      case LONG_BINGET: memo_get(r_.u32()); break;
      case GLOBAL: {
        std::string module = line();
        std::string gname = line();
        push(make_global(module, gname));
        break;
      }
      case STACK_GLOBAL: {
        PyRef gname = pop();
        PyRef module = pop();
        if (gname->kind != Kind::String || module->kind != Kind::String) fail("STACK_GLOBAL needs two strings");
        push(make_global(module->str, gname->str));
        break;
      }
      case INST: {  // protocol 0/1: module and class as text, args from the mark
        std::string module = line();
        std::string gname = line();
        PyRef args = node(Kind::Tuple);
        args->items = pop_mark();
        push(make_call(make_global(module, gname), std::move(args)));
        break;
      }
      case OBJ: {  // protocol 1: class and args from the mark
        std::vector<PyRef> v = pop_mark();
        if (v.empty()) fail("OBJ without a class");
        PyRef args = node(Kind::Tuple);
        args->items.assign(v.begin() + 1, v.end());
        push(make_call(std::move(v[0]), std::move(args)));
        break;
      }
      case REDUCE:
      case NEWOBJ: {
        PyRef args = pop();
        PyRef callable = pop();
        push(make_call(std::move(callable), std::move(args)));
        break;
      }
      case NEWOBJ_EX: {
        PyRef kwargs = pop();
        PyRef args = pop();
        PyRef cls = pop();
        if (kwargs->kind != Kind::Dict || !kwargs->entries.empty()) fail("NEWOBJ_EX with keyword arguments");
        push(make_call(std::move(cls), std::move(args)));
        break;
      }
      case BUILD: {
        PyRef state = pop();
        PyRef& obj = top();
        check_no_cycle(obj.get(), state);
        obj->state = std::move(state);
        break;
      }
      case BINPERSID: {
        PyRef p = node(Kind::PersistentId);
        p->pid = pop();
        push(p);
        break;
      }
      case PERSID: {
        PyRef p = node(Kind::PersistentId);
        p->pid = make_str(Kind::String, line());
        push(p);
        break;
      }
      case EXT1:
      case EXT2:
      case EXT4: fail("extension-registry opcodes are not supported");
      case NEXT_BUFFER:
      case READONLY_BUFFER: fail("out-of-band buffers are not supported");
      default: {
        char buf[8];
        std::snprintf(buf, sizeof buf, "0x%02x", op);
        fail(std::string("unknown opcode ") + buf);
      }
    }
  }

  ByteReader r_;
  const std::set<std::string>& allowed_;
  const std::string& name_;
  PickleLimits lim_;
  std::vector<PyRef> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PyRef> memo_;
  std::unordered_set<const PyValue*> shared_;
  size_t nodes_ = 0;
  size_t cycle_work_ = 0;
  size_t op_pos_ = 0;
};

}  // namespace

PyRef unpickle(const uint8_t* data, size_t size, const std::set<std::string>& allowed_globals,
               const std::string& name_for_errors, size_t* consumed, const PickleLimits& limits) {
  return Unpickler(data, size, allowed_globals, name_for_errors, limits).run(consumed);
}

}  // namespace dice
