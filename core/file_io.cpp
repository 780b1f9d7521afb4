// Whole-file reads and temporary-then-rename writes (see file_io.h).
#include "core/file_io.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace dice {

std::vector<uint8_t> read_file(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    throw_error(path, ": cannot open (", std::strerror(errno), "); check the path");
  if (S_ISDIR(st.st_mode)) throw_error(path, ": is a directory, expected a file");
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw_error(path, ": cannot open (", std::strerror(errno), "); check the permissions");
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.insert(out.end(), buf, buf + n);
  bool err = std::ferror(f);
  std::fclose(f);
  if (err) throw_error(path, ": read error; check the file system");
  return out;
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool is_directory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

int64_t file_size(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int64_t>(st.st_size);
}

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  tmp_ = path_ + ".tmp." + std::to_string(::getpid());
  f_ = std::fopen(tmp_.c_str(), "wb");
  if (!f_)
    throw_error(path_, ": cannot create (", std::strerror(errno),
                "); check that the folder exists and is writable");
}

AtomicFile::~AtomicFile() {
  if (f_) std::fclose(f_);
  if (!committed_) std::remove(tmp_.c_str());
}

void AtomicFile::write(const void* data, size_t n) {
  DICE_ASSERT(f_ && !committed_);
  if (n && std::fwrite(data, 1, n, f_) != n)
    throw_error(path_, ": write failed (", std::strerror(errno), "); check free disk space");
}

void AtomicFile::commit() {
  DICE_ASSERT(f_ && !committed_);
  bool ok = std::fflush(f_) == 0 && ::fsync(fileno(f_)) == 0;
  ok = (std::fclose(f_) == 0) && ok;
  f_ = nullptr;
  if (!ok) throw_error(path_, ": write failed (", std::strerror(errno), "); check free disk space");
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0)
    throw_error(path_, ": cannot rename the temporary file into place (", std::strerror(errno), ")");
  committed_ = true;
}

void write_file_atomic(const std::string& path, const void* data, size_t n) {
  AtomicFile f(path);
  f.write(data, n);
  f.commit();
}

}  // namespace dice
