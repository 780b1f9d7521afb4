// echo(): escaped, bounded quoting of outside text in messages (see echo.h).
#include "core/echo.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>

namespace dice {
namespace {

// Length of the valid UTF-8 sequence at s[i] that is not a C1 control, else 0.
size_t utf8_length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t c = b(i);
  size_t n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
  if (n == 0 || c > 0xF4 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((b(i + k) & 0xC0) != 0x80) return 0;
  if (c == 0xC2 && b(i + 1) < 0xA0) return 0;  // U+0080..U+009F: C1 controls (CSI is U+009B)
  return n;
}

// Appends s with every control character and invalid UTF-8 byte escaped.
void escape(std::string_view s, std::string* out) {
  size_t i = 0;
  while (i < s.size()) {
    const uint8_t c = static_cast<uint8_t>(s[i]);
    if (c >= 0x20 && c < 0x7F) {
      *out += static_cast<char>(c);
      ++i;
    } else if (size_t n = c >= 0x80 ? utf8_length(s, i) : 0) {
      out->append(s.substr(i, n));
      i += n;
    } else {
      char buf[8];
      switch (c) {
        case '\n':
          *out += "\\n";
          break;
        case '\t':
          *out += "\\t";
          break;
        case '\r':
          *out += "\\r";
          break;
        default:
          std::snprintf(buf, sizeof buf, "\\x%02x", c);
          *out += buf;
      }
      ++i;
    }
  }
}

}  // namespace

std::string echo(std::string_view text, size_t max_chars) {
  std::string all;
  if (text.size() <= 4 * max_chars) {
    escape(text, &all);
    if (all.size() <= max_chars) return all;
  }
  // Too long: the first and last ~max/2 bytes of the source, escaped, with the cut size between.
  // A short text can get here too (escaping makes control characters 4x longer), so every
  // position is clamped to the text.
  const size_t half = max_chars > 18 ? max_chars / 2 - 8 : 1;
  size_t head_end = std::min(half, text.size());
  size_t tail_begin = std::max(head_end, text.size() > half ? text.size() - half : size_t{0});
  while (head_end > 0 && head_end < text.size() && (static_cast<uint8_t>(text[head_end]) & 0xC0) == 0x80) --head_end;
  while (tail_begin < text.size() && (static_cast<uint8_t>(text[tail_begin]) & 0xC0) == 0x80)
    ++tail_begin;
  std::string head, tail;
  escape(text.substr(0, head_end), &head);
  escape(text.substr(tail_begin), &tail);
  if (head.size() > half) head.resize(half);
  if (tail.size() > half) tail.erase(0, tail.size() - half);
  return head + "...[" + std::to_string(text.size()) + " bytes]..." + tail;
}

}  // namespace dice
