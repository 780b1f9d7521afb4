// Whole-file reads and all-or-nothing writes.
// Every output the tools produce goes through AtomicFile: bytes go to "<path>.tmp.<pid>" and are
// renamed over <path> only by commit(), so an interrupted or failed run never leaves a truncated
// file under the final name (the destructor removes an uncommitted temporary).
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace dice {

// Reads a whole file; throws dice::Error naming the path if it is missing or unreadable.
std::vector<uint8_t> read_file(const std::string& path);
bool file_exists(const std::string& path);
bool is_directory(const std::string& path);
int64_t file_size(const std::string& path);  // -1 if missing

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  void write(const void* data, size_t n);
  void write(const std::string& s) { write(s.data(), s.size()); }
  // Flushes, fsyncs and renames onto the final path. Without it nothing appears.
  void commit();
  const std::string& path() const { return path_; }

 private:
  std::string path_, tmp_;
  std::FILE* f_ = nullptr;
  bool committed_ = false;
};

// Convenience: writes bytes to path atomically.
void write_file_atomic(const std::string& path, const void* data, size_t n);

}  // namespace dice
