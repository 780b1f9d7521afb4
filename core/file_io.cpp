// Whole-file reads and exclusive temporary-then-rename writes (see file_io.h for the rules).
#include "core/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <utility>

#include "core/echo.h"
#include "core/error.h"
#include "core/limits.h"

namespace dice {
namespace {

std::mutex g_inputs_mutex;
std::map<std::pair<dev_t, ino_t>, std::string> g_inputs;  // device+inode -> the path given

std::string folder_of(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
}

// The advice for a failed write, by errno.
std::string write_error(const std::string& path, int err) {
  if (err == ENOSPC) return echo(path) + ": no space left on the device; free space or write elsewhere";
  if (err == EFBIG)
    return echo(path) + ": file too large for the file-size limit (ulimit -f); raise it or write elsewhere";
  return echo(path) + ": write failed (" + std::strerror(err) + "); check the file system";
}

std::string random_suffix() {
  static std::mutex m;
  static std::mt19937_64 rng{std::random_device{}() ^ (uint64_t(::getpid()) << 32)};
  std::lock_guard<std::mutex> lock(m);
  const char* al = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s;
  for (int i = 0; i < 8; ++i) s += al[rng() % 36];
  return s;
}

[[noreturn]] void refuse_not_regular(const std::string& path) {
  throw_error(echo(path), ": not a regular file (a FIFO, device or socket); pass a file, or - for standard input");
}

// The descriptor of this process that `path` names (-, /dev/stdout, /dev/fd/N, /proc/self/fd/N,
// reached through any chain of symlinks), or -1. Such a path must never be replaced: renaming
// over /dev/stdout would turn the system's symlink into a regular file.
int named_descriptor(std::string path) {
  if (path == "-") return 1;
  const std::string self = "/proc/" + std::to_string(::getpid()) + "/fd/";
  for (int hop = 0; hop < 40; ++hop) {
    if (path == "/dev/stdin") return 0;
    if (path == "/dev/stdout") return 1;
    if (path == "/dev/stderr") return 2;
    for (const std::string& dir : {std::string("/dev/fd/"), std::string("/proc/self/fd/"), self}) {
      if (path.compare(0, dir.size(), dir) == 0 && path.size() > dir.size() &&
          path.find_first_not_of("0123456789", dir.size()) == std::string::npos && path.size() - dir.size() < 8)
        return std::stoi(path.substr(dir.size()));
    }
    char buf[4096];
    const ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
    if (n <= 0) return -1;
    std::string link(buf, static_cast<size_t>(n));
    path = link[0] == '/' ? link : folder_of(path) + "/" + link;
  }
  return -1;
}

}  // namespace

std::vector<uint8_t> read_file(const std::string& path, uint64_t max_bytes) {
  const bool env_cap = max_bytes == 0;
  if (env_cap) max_bytes = max_input_bytes();
  auto too_large = [&](uint64_t bytes) {
    if (env_cap) throw_input_limit(path, "reading the file", bytes);
    throw_error(echo(path), ": ", bytes, " bytes is over the limit of ", max_bytes, " bytes for this input");
  };
  struct Fd {  // closes what it opened on every way out
    int fd;
    ~Fd() {
      if (fd > 0) ::close(fd);
    }
  };
  const bool std_in = path == "-";
  struct stat st;
  // A device or FIFO is refused before it is opened at all (opening one can block or rewind a
  // tape); the fstat below catches a file swapped in between.
  if (!std_in && ::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
    refuse_not_regular(path);
  const Fd f{std_in ? 0 : ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC)};
  if (f.fd < 0) throw_error(echo(path), ": cannot open (", std::strerror(errno), "); check the path");
  if (::fstat(f.fd, &st) != 0) st.st_mode = 0;
  if (!std_in) {
    if (S_ISDIR(st.st_mode)) throw_error(echo(path), ": is a directory, expected a file");
    if (!S_ISREG(st.st_mode)) refuse_not_regular(path);
    ::fcntl(f.fd, F_SETFL, ::fcntl(f.fd, F_GETFL) & ~O_NONBLOCK);
    if (static_cast<uint64_t>(st.st_size) > max_bytes) too_large(static_cast<uint64_t>(st.st_size));
  }
  std::vector<uint8_t> out;
  if (!std_in) out.reserve(static_cast<size_t>(st.st_size));
  uint8_t buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(f.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_error(echo(path), ": read error (", std::strerror(errno), "); check the file system");
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_bytes) too_large(out.size() + static_cast<size_t>(n));
    out.insert(out.end(), buf, buf + n);
  }
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

bool is_regular_file(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

int64_t file_size(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int64_t>(st.st_size);
}

void note_input(const std::string& path) {
  struct stat st;
  if (path == "-" || ::stat(path.c_str(), &st) != 0) return;
  std::lock_guard<std::mutex> lock(g_inputs_mutex);
  g_inputs.emplace(std::make_pair(st.st_dev, st.st_ino), path);
}

void check_output(const std::string& path) {
  if (named_descriptor(path) >= 0) return;
  if (path.empty()) throw_error("empty output path; give a file name");
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) throw_error(echo(path), ": is a folder; give an output file name");
    {
      std::lock_guard<std::mutex> lock(g_inputs_mutex);
      auto it = g_inputs.find({st.st_dev, st.st_ino});
      if (it != g_inputs.end())
        throw_error(echo(path), ": is also an input of this run (", echo(it->second),
                    "); write the output elsewhere");
    }
    if (!S_ISREG(st.st_mode)) return;  // a device or FIFO: written in place
  }
  const std::string dir = folder_of(path);
  if (!is_directory(dir)) throw_error(echo(path), ": folder ", echo(dir), " does not exist; create it first");
  if (::access(dir.c_str(), W_OK) != 0) throw_error(echo(path), ": folder ", echo(dir), " is not writable");
}

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  check_output(path_);
  struct stat st;
  if (int fd = named_descriptor(path_); fd >= 0) {
    std::fflush(stdout);
    fd_ = fd;
    owns_fd_ = false;
    return;
  }
  if (::stat(path_.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    // O_NONBLOCK: a FIFO nobody reads is an error (ENXIO), not a wait forever.
    fd_ = ::open(path_.c_str(), O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd_ < 0)
      throw_error(echo(path_), ": cannot open for writing (", std::strerror(errno),
                  errno == ENXIO ? "; a FIFO needs its reader started first)" : ")");
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_NONBLOCK);
    return;
  }
  for (int attempt = 0; attempt < 100 && fd_ < 0; ++attempt) {
    tmp_ = path_ + ".tmp." + random_suffix();
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd_ < 0 && errno != EEXIST) {
      int err = errno;
      tmp_.clear();
      throw_error(echo(path_), ": cannot create a temporary file beside it (", std::strerror(err),
                  "); check that the folder exists and is writable");
    }
  }
  if (fd_ < 0) {
    tmp_.clear();
    throw_error(echo(path_), ": cannot create a unique temporary file beside it; check the folder");
  }
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0 && owns_fd_) ::close(fd_);
  if (!committed_ && !kept_ && !tmp_.empty()) ::unlink(tmp_.c_str());
}

void AtomicFile::write(const void* data, size_t n) {
  DICE_ASSERT(fd_ >= 0 && !committed_ && !synced_);
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd_, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) throw Error(write_error(path_, w < 0 ? errno : ENOSPC));
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void AtomicFile::sync() {
  DICE_ASSERT(!committed_);
  if (synced_) return;
  DICE_ASSERT(fd_ >= 0);
  // Pipes, terminals and /dev/null cannot be synced (EINVAL/ENOTSUP/EROFS): nothing to make durable.
  if (::fsync(fd_) != 0 && (!tmp_.empty() || (errno != EINVAL && errno != ENOTSUP && errno != EROFS)))
    throw Error(write_error(path_, errno));
  if (owns_fd_) {
    const int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0 && errno != EINTR) throw Error(write_error(path_, errno));
  }
  synced_ = true;
}

void AtomicFile::commit() {
  DICE_ASSERT(!committed_);
  sync();
  if (!tmp_.empty()) rename_durable(tmp_, path_);
  committed_ = true;
}

void rename_durable(const std::string& from, const std::string& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0)
    throw_error(echo(to), ": cannot rename the temporary file into place (", std::strerror(errno), ")");
  int dfd = ::open(folder_of(to).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void write_file_atomic(const std::string& path, const void* data, size_t n) {
  AtomicFile f(path);
  f.write(data, n);
  f.commit();
}

}  // namespace dice
