// SHA-256 (FIPS 180-4), to name exactly which weight file a report was made from. Written here
// rather than linked: it is 100 lines, and the project otherwise needs no crypto library.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace dice {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t n);
  // The digest as 64 lowercase hex digits; the object is finished afterwards.
  std::string hex();

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buffered_ = 0;
  uint64_t bytes_ = 0;
};

// SHA-256 of a file's bytes, read in chunks; throws dice::Error naming the file if unreadable.
std::string sha256_file(const std::string& path);

}  // namespace dice
