// ByteReader: a bounds-checked little-endian cursor over a byte buffer, shared by the parsers in
// formats/. Every read checks the remaining length first and throws dice::Error naming the file,
// so a parser built on it cannot read out of bounds whatever the bytes are (they will be fuzzed).
// Sizes are size_t and compared against remaining() before any arithmetic that could overflow.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>

#include "core/error.h"

namespace dice {

class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size, const std::string& name, const char* what)
      : p_(data), n_(size), name_(name), what_(what) {}

  size_t pos() const { return pos_; }
  size_t size() const { return n_; }
  size_t remaining() const { return n_ - pos_; }
  bool at_end() const { return pos_ == n_; }
  const uint8_t* here() const { return p_ + pos_; }

  void need(size_t k) const {
    if (k > remaining())
      throw_error(name_, ": truncated ", what_, " (needs ", k, " more bytes at offset ", pos_,
                  ", ", remaining(), " left); the file is damaged or incomplete, re-download or re-export it");
  }
  void seek(size_t at) {
    if (at > n_) throw_error(name_, ": corrupt ", what_, " (offset ", at, " beyond the end at ", n_, ")");
    pos_ = at;
  }
  void skip(size_t k) { need(k); pos_ += k; }
  const uint8_t* take(size_t k) {
    need(k);
    const uint8_t* r = p_ + pos_;
    pos_ += k;
    return r;
  }
  uint8_t u8() { return *take(1); }
  uint16_t u16() { return static_cast<uint16_t>(le(2)); }
  uint32_t u32() { return static_cast<uint32_t>(le(4)); }
  uint64_t u64() { return le(8); }
  std::string str(size_t k) {
    const uint8_t* s = take(k);
    return std::string(reinterpret_cast<const char*>(s), k);
  }

 private:
  uint64_t le(size_t k) {
    const uint8_t* s = take(k);
    uint64_t v = 0;
    for (size_t i = 0; i < k; ++i) v |= static_cast<uint64_t>(s[i]) << (8 * i);
    return v;
  }
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
  std::string name_;
  const char* what_;
};

// Little-endian stores for the writers.
inline void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// Appends code point cp (at most 0x10FFFF) as UTF-8; shared by the JSON and pickle string decoders.
inline void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xf0 | ((cp >> 18) & 0x07)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

}  // namespace dice
