// JSON parser and writer (see json.h). Recursive descent with an explicit depth bound, so hostile
// input (deep nesting) fails with a dice::Error instead of exhausting the stack.
#include "formats/json.h"

#include <cmath>
#include <cstdio>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "core/error.h"
#include "formats/byte_reader.h"

namespace dice {

bool Json::as_bool() const {
  if (type_ != Type::Bool) throw_error("JSON value is not a boolean");
  return b_;
}
double Json::as_number() const {
  if (type_ != Type::Number) throw_error("JSON value is not a number");
  return d_;
}
int64_t Json::as_int() const {
  double d = as_number();
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || std::floor(d) != d)
    throw_error("JSON number ", json_number(d), " is not an integer in range");
  return static_cast<int64_t>(d);
}
const std::string& Json::as_string() const {
  if (type_ != Type::String) throw_error("JSON value is not a string");
  return s_;
}
size_t Json::size() const {
  if (type_ == Type::Array) return a_.size();
  if (type_ == Type::Object) return o_.size();
  throw_error("JSON value is not an array or object");
}
const Json& Json::operator[](size_t i) const {
  const auto& v = items();
  if (i >= v.size()) throw_error("JSON array index ", i, " out of range (size ", v.size(), ")");
  return v[i];
}
void Json::push_back(Json v) {
  if (type_ == Type::Null) type_ = Type::Array;
  if (type_ != Type::Array) throw_error("JSON value is not an array");
  a_.push_back(std::move(v));
}
const std::vector<Json>& Json::items() const {
  if (type_ != Type::Array) throw_error("JSON value is not an array");
  return a_;
}
const Json* Json::find(const std::string& key) const {
  if (type_ != Type::Object) return nullptr;
  for (const auto& kv : o_)
    if (kv.first == key) return &kv.second;
  return nullptr;
}
bool Json::has(const std::string& key) const { return find(key) != nullptr; }
const Json& Json::at(const std::string& key) const {
  if (type_ != Type::Object) throw_error("JSON value is not an object (looking up '", key, "')");
  const Json* j = find(key);
  if (!j) throw_error("JSON object has no member '", key, "'");
  return *j;
}
void Json::set(const std::string& key, Json v) {
  if (type_ == Type::Null) type_ = Type::Object;
  if (type_ != Type::Object) throw_error("JSON value is not an object");
  for (auto& kv : o_)
    if (kv.first == key) {
      kv.second = std::move(v);
      return;
    }
  o_.emplace_back(key, std::move(v));
}
const std::vector<std::pair<std::string, Json>>& Json::members() const {
  if (type_ != Type::Object) throw_error("JSON value is not an object");
  return o_;
}

// ---- writer ----

std::string json_number(double d) {
  if (!std::isfinite(d)) return "null";
  if (d == std::floor(d) && std::fabs(d) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", d);
    if (std::string(buf) == "-0") return "0";  // keep -0.0 readable; its sign is not data here
    return buf;
  }
  char buf[40];
  for (int prec = 15; prec <= 17; ++prec) {  // shortest of 15..17 digits that round-trips
    std::snprintf(buf, sizeof buf, "%.*g", prec, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  return buf;
}

void json_escape(std::string& out, const std::string& s) {
  static const char* hex = "0123456789abcdef";
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(hex[c >> 4]);
          out.push_back(hex[c & 15]);
        } else {
          out.push_back(static_cast<char>(c));  // UTF-8 passes through unchanged
        }
    }
  }
  out.push_back('"');
}

void Json::dump_to(std::string& out, int indent, int level) const {
  auto newline = [&](int lvl) {
    if (indent < 0) return;
    out.push_back('\n');
    out.append(static_cast<size_t>(indent * lvl), ' ');
  };
  switch (type_) {
    case Type::Null: out += "null"; break;
    case Type::Bool: out += b_ ? "true" : "false"; break;
    case Type::Number: out += json_number(d_); break;
    case Type::String: json_escape(out, s_); break;
    case Type::Array:
      out.push_back('[');
      for (size_t i = 0; i < a_.size(); ++i) {
        if (i) out.push_back(',');
        newline(level + 1);
        a_[i].dump_to(out, indent, level + 1);
      }
      if (!a_.empty()) newline(level);
      out.push_back(']');
      break;
    case Type::Object:
      out.push_back('{');
      for (size_t i = 0; i < o_.size(); ++i) {
        if (i) out.push_back(',');
        newline(level + 1);
        json_escape(out, o_[i].first);
        out += indent < 0 ? ":" : ": ";
        o_[i].second.dump_to(out, indent, level + 1);
      }
      if (!o_.empty()) newline(level);
      out.push_back('}');
      break;
  }
}

std::string Json::dump(int indent) const {
  std::string out;
  dump_to(out, indent, 0);
  return out;
}

// ---- parser ----

class JsonParser {
 public:
  JsonParser(const std::string& t, const std::string& name, int max_depth, size_t max_values)
      : t_(t), name_(name), max_depth_(max_depth), max_values_(max_values) {}

  Json parse_document() {
    Json v = value(0);
    ws();
    if (i_ != t_.size()) fail("unexpected text after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void fail(const char* what) const {
    throw_error(name_, ": invalid JSON at byte ", i_, ": ", what);
  }
  void ws() {
    while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\t' || t_[i_] == '\n' || t_[i_] == '\r')) ++i_;
  }
  bool eat(char c) {
    ws();
    if (i_ < t_.size() && t_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void expect(char c, const char* what) {
    if (!eat(c)) fail(what);
  }
  bool literal(const char* word) {
    size_t n = std::strlen(word);
    if (t_.compare(i_, n, word) == 0) {
      i_ += n;
      return true;
    }
    return false;
  }

  Json value(int depth) {
    if (depth > max_depth_) fail("nesting too deep");
    if (++values_ > max_values_) fail("too many values for the memory limit");
    ws();
    if (i_ >= t_.size()) fail("unexpected end of text");
    char c = t_[i_];
    if (c == '{') {
      ++i_;
      Json o = Json::object();
      if (eat('}')) return o;
      // A repeated key replaces the earlier value in place (as set() does, and Python's json);
      // the index keeps that linear for objects with many members (a hostile safetensors
      // header may hold millions).
      std::unordered_map<std::string, size_t> index;
      do {
        ws();
        if (i_ >= t_.size() || t_[i_] != '"') fail("expected a string key");
        std::string k = string();
        expect(':', "expected ':' after an object key");
        Json v = value(depth + 1);
        auto it = index.find(k);
        if (it != index.end()) {
          o.o_[it->second].second = std::move(v);
        } else {
          index.emplace(k, o.o_.size());
          o.o_.emplace_back(std::move(k), std::move(v));
        }
      } while (eat(','));
      expect('}', "expected ',' or '}' in an object");
      return o;
    }
    if (c == '[') {
      ++i_;
      Json a = Json::array();
      if (eat(']')) return a;
      do a.push_back(value(depth + 1));
      while (eat(','));
      expect(']', "expected ',' or ']' in an array");
      return a;
    }
    if (c == '"') return Json(string());
    if (literal("true")) return Json(true);
    if (literal("false")) return Json(false);
    if (literal("null")) return Json();
    return number();
  }

  Json number() {
    size_t s = i_;
    if (i_ < t_.size() && t_[i_] == '-') ++i_;
    size_t digits = i_;
    while (i_ < t_.size() && std::isdigit(static_cast<unsigned char>(t_[i_]))) ++i_;
    if (i_ == digits) fail("expected a value");
    if (t_[digits] == '0' && i_ - digits > 1) fail("leading zeros in a number");
    if (i_ < t_.size() && t_[i_] == '.') {
      ++i_;
      size_t f = i_;
      while (i_ < t_.size() && std::isdigit(static_cast<unsigned char>(t_[i_]))) ++i_;
      if (i_ == f) fail("expected digits after '.'");
    }
    if (i_ < t_.size() && (t_[i_] == 'e' || t_[i_] == 'E')) {
      ++i_;
      if (i_ < t_.size() && (t_[i_] == '+' || t_[i_] == '-')) ++i_;
      size_t e = i_;
      while (i_ < t_.size() && std::isdigit(static_cast<unsigned char>(t_[i_]))) ++i_;
      if (i_ == e) fail("expected digits in the exponent");
    }
    std::string text = t_.substr(s, i_ - s);  // strtod needs a terminated copy
    return Json(std::strtod(text.c_str(), nullptr));
  }

  unsigned hex4() {
    if (t_.size() - i_ < 4) fail("truncated \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = t_[i_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= c - '0';
      else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
      else fail("bad hex digit in a \\u escape");
    }
    return v;
  }


  std::string string() {
    ++i_;  // opening quote
    std::string out;
    for (;;) {
      if (i_ >= t_.size()) fail("unterminated string");
      unsigned char c = static_cast<unsigned char>(t_[i_++]);
      if (c == '"') return out;
      if (c < 0x20) fail("control character in a string");
      if (c != '\\') {
        out.push_back(static_cast<char>(c));
        continue;
      }
      if (i_ >= t_.size()) fail("unterminated escape");
      char e = t_[i_++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xd800 && cp < 0xdc00) {  // surrogate pair
            if (t_.size() - i_ < 6 || t_[i_] != '\\' || t_[i_ + 1] != 'u') fail("unpaired surrogate");
            i_ += 2;
            unsigned lo = hex4();
            if (lo < 0xdc00 || lo >= 0xe000) fail("bad low surrogate");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          } else if (cp >= 0xdc00 && cp < 0xe000) {
            fail("unpaired surrogate");
          }
          append_utf8(out, cp);
          break;
        }
        default: fail("invalid escape in a string");
      }
    }
  }

  const std::string& t_;
  const std::string& name_;
  int max_depth_;
  size_t max_values_, values_ = 0;
  size_t i_ = 0;
};

Json Json::parse(const std::string& text, const std::string& name, int max_depth, size_t max_values) {
  return JsonParser(text, name, max_depth, max_values).parse_document();
}

}  // namespace dice
