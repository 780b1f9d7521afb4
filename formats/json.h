// A minimal JSON value, parser and writer: enough for safetensors headers and the CLI's --json
// output. Objects keep insertion order (a vector of pairs, linear lookup: the objects here are
// small) so written files are stable and diffable. Numbers are doubles; the writer prints the
// shortest text that reads back to the same double ("%.17g" fallback), so values round-trip
// exactly. The parser bounds nesting depth and rejects trailing garbage, invalid escapes and
// control characters; its errors name the file (or the label the caller gives).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace dice {

class Json {
 public:
  enum class Type { Null, Bool, Number, String, Array, Object };

  Json() = default;  // null
  Json(std::nullptr_t) {}
  Json(bool b) : type_(Type::Bool), b_(b) {}
  Json(double d) : type_(Type::Number), d_(d) {}
  Json(int v) : type_(Type::Number), d_(v) {}
  Json(int64_t v) : type_(Type::Number), d_(static_cast<double>(v)) {}
  Json(uint64_t v) : type_(Type::Number), d_(static_cast<double>(v)) {}
  Json(const char* s) : type_(Type::String), s_(s) {}
  Json(std::string s) : type_(Type::String), s_(std::move(s)) {}
  static Json array() { Json j; j.type_ = Type::Array; return j; }
  static Json object() { Json j; j.type_ = Type::Object; return j; }

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::Null; }
  bool is_bool() const { return type_ == Type::Bool; }
  bool is_number() const { return type_ == Type::Number; }
  bool is_string() const { return type_ == Type::String; }
  bool is_array() const { return type_ == Type::Array; }
  bool is_object() const { return type_ == Type::Object; }

  // Typed access; throw dice::Error ("JSON value is not a number") on the wrong type.
  bool as_bool() const;
  double as_number() const;
  // The number as an exact integer; throws if it has a fraction or is outside int64.
  int64_t as_int() const;
  const std::string& as_string() const;

  // Arrays.
  size_t size() const;  // elements of an array or members of an object
  const Json& operator[](size_t i) const;
  void push_back(Json v);
  const std::vector<Json>& items() const;

  // Objects (insertion order kept; set() replaces an existing key in place).
  bool has(const std::string& key) const;
  const Json* find(const std::string& key) const;
  const Json& at(const std::string& key) const;  // throws naming the key when absent
  void set(const std::string& key, Json v);
  const std::vector<std::pair<std::string, Json>>& members() const;

  // indent < 0: compact one line; otherwise pretty with that many spaces per level.
  std::string dump(int indent = -1) const;

  // Parses text; errors name `name` (a file path or label) and the byte offset. At most
  // max_values values (each costs ~100 bytes in memory, whatever its size in the text).
  static Json parse(const std::string& text, const std::string& name = "JSON",
                    int max_depth = 64, size_t max_values = SIZE_MAX);

 private:
  friend class JsonParser;  // fills objects directly: set()'s linear lookup would be quadratic
  void dump_to(std::string& out, int indent, int level) const;
  Type type_ = Type::Null;
  bool b_ = false;
  double d_ = 0;
  std::string s_;
  std::vector<Json> a_;
  std::vector<std::pair<std::string, Json>> o_;
};

// Appends s to out as a JSON string literal (quotes and escapes included).
void json_escape(std::string& out, const std::string& s);
// The shortest decimal text that parses back to exactly d ("null" for NaN/inf, as JSON has none).
std::string json_number(double d);

}  // namespace dice
