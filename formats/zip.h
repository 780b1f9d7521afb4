// Read-only zip archives held in memory: the container of torch's checkpoint format and of .npz.
// Supports what those writers produce: stored (method 0) and deflated (method 8) entries, zip64
// sizes/offsets, and CRC-32 verification on every read. Encryption, multi-disk archives and
// other methods are refused with a message naming the archive.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace dice {

bool is_zip(const uint8_t* data, size_t size);  // local header or empty-archive signature

class ZipArchive {
 public:
  struct Entry {
    std::string name;
    uint16_t method = 0;
    uint32_t crc32 = 0;
    uint64_t compressed_size = 0;
    uint64_t uncompressed_size = 0;
    uint64_t local_header_offset = 0;
  };

  // Parses the central directory; `name_for_errors` (usually the path) prefixes every error.
  static ZipArchive from_bytes(std::vector<uint8_t> bytes, std::string name_for_errors);
  static ZipArchive from_file(const std::string& path);

  std::vector<std::string> names() const;  // in central-directory order
  bool has(const std::string& name) const;
  const Entry& entry(const std::string& name) const;  // throws if absent
  // Decompresses (if needed) and CRC-checks one member.
  std::vector<uint8_t> read(const std::string& name) const;
  const std::string& name() const { return name_; }

 private:
  std::vector<uint8_t> bytes_;
  std::string name_;
  std::vector<Entry> entries_;
  std::map<std::string, size_t> index_;
};

}  // namespace dice
