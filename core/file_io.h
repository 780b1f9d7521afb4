// Whole-file reads and all-or-nothing writes, hardened against hostile paths.
// Reads: only regular files (or `-`, standard input) are read, opened non-blocking so a FIFO or
// device named as an input is refused rather than waited on or read forever. The command line
// notes its inputs (note_input: device + inode) so that no output can replace one; the library
// itself keeps no such state (a program may well rewrite a file it has read).
// Writes: every output goes through AtomicFile. For a regular (or missing) target the bytes go to
// a temporary file created exclusively (O_EXCL|O_NOFOLLOW, random name "<path>.tmp.XXXXXX" in the
// target's folder, mode 0666 less the umask like any new file), which commit() fsyncs, renames
// over the target and makes durable by fsyncing the folder; until then nothing appears and the
// destructor removes the temporary. A target that exists and is not a regular file (a character
// device such as /dev/null or /dev/full, a FIFO, a terminal) is written in place, never replaced;
// `-`, /dev/stdout, /dev/stderr, /dev/fd/N and /proc/self/fd/N (through any symlinks) write to
// that descriptor of this process, whatever it is open on. An output that is a folder or one of the run's
// inputs is refused naming both. Write errors (ENOSPC, EFBIG: main() ignores SIGXFSZ so a
// file-size limit is an error, not a signal) are one-line dice::Errors.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace dice {

// Reads a whole file; throws dice::Error naming the path if it is missing, unreadable, not a
// regular file, or larger than max_bytes (0: the DICE_MAX_INPUT_MB cap of core/limits.h). "-"
// reads standard input.
std::vector<uint8_t> read_file(const std::string& path, uint64_t max_bytes = 0);
bool file_exists(const std::string& path);
bool is_directory(const std::string& path);
bool is_regular_file(const std::string& path);  // following symlinks
int64_t file_size(const std::string& path);  // -1 if missing

// Remembers `path` (if it exists) as an input of this run, so that no output replaces it.
void note_input(const std::string& path);
// Throws (before any work is done) if `path` cannot be an output: a folder, one of the inputs
// noted so far, or in a folder that is missing or not writable.
void check_output(const std::string& path);

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
  // For callers that publish several files together (core/file_set.h): fsync without renaming,
  // and the temporary's name ("" when written in place).
  void sync();
  const std::string& temp_path() const { return tmp_; }
  // After this a failure leaves the synced temporary in place (a published set rolls it forward).
  void keep() { kept_ = true; }
  const std::string& path() const { return path_; }

 private:
  std::string path_, tmp_;  // tmp_ empty: written in place (stdout, a device, a FIFO)
  int fd_ = -1;
  bool owns_fd_ = true;  // false for an inherited descriptor (stdout)
  bool committed_ = false, synced_ = false, kept_ = false;
};

// Convenience: writes bytes to path atomically.
void write_file_atomic(const std::string& path, const void* data, size_t n);

// Renames `from` over `to` and fsyncs the folder of `to`; throws naming `to`.
void rename_durable(const std::string& from, const std::string& to);

}  // namespace dice
