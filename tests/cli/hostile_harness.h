// The rule every hostile case must meet (issue 17), checked by one function: the real `dice`
// binary runs as a child under a memory cap (RLIMIT_AS, 4 GB) and a timeout (60 s); it must exit
// with a status in 1..127 (no signal, no timeout), print at most 3 lines on stderr (short ones,
// without control characters), one of them naming the file or option at fault, and leave its folder
// exactly as it was: the same names, sizes, mtimes and content hashes before and after (so
// pre-existing outputs are intact and no temporary file is left behind).
#pragma once
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace dice::hostile {

// Under AddressSanitizer (scripts/sanitize.sh builds the tests and `dice` alike) the shadow
// memory needs terabytes of address space, so RLIMIT_AS cannot be used: the cap becomes ASan's
// own per-allocation limit (malloc returns null; a failed operator new aborts under ASan, so the
// cases that need std::bad_alloc skip themselves there).
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif
#else
constexpr bool kAsan = false;
#endif

struct Limits {
  uint64_t address_space = uint64_t(4) << 30;  // bytes (RLIMIT_AS)
  int timeout_s = 60;
  uint64_t file_size = 0;  // RLIMIT_FSIZE in bytes; 0: unlimited
  std::string stdin_path = "/dev/null";
  std::vector<std::string> env;  // "NAME=value" added to the environment
};

struct Result {
  int exit_code = -1;  // -1 if killed by a signal
  int signal = 0;
  bool timed_out = false;
  double seconds = 0;
  std::string out, err;
};

inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// Runs `dice ARGS...` (no shell: arguments are passed as they are) in folder `cwd`.
inline Result run(const std::vector<std::string>& args, const std::string& cwd,
                  const Limits& lim = {}) {
  const std::string io = dice::test::temp_dir();  // captured output lives outside cwd
  const std::string out_path = io + "/stdout", err_path = io + "/stderr";
  auto t0 = std::chrono::steady_clock::now();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    if (kAsan) {
      const char* old = std::getenv("ASAN_OPTIONS");
      const std::string opts = std::string(old ? old : "") + (old && *old ? ":" : "") +
                               "allocator_may_return_null=1:max_allocation_size_mb=" +
                               std::to_string(lim.address_space >> 20);
      ::setenv("ASAN_OPTIONS", opts.c_str(), 1);
    } else {
      struct rlimit as {
        lim.address_space, lim.address_space
      };
      ::setrlimit(RLIMIT_AS, &as);
    }
    if (lim.file_size) {
      struct rlimit fs {
        lim.file_size, lim.file_size
      };
      ::setrlimit(RLIMIT_FSIZE, &fs);
    }
    int in = ::open(lim.stdin_path.c_str(), O_RDONLY | O_NONBLOCK);
    int o = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in >= 0) ::fcntl(in, F_SETFL, 0);
    ::dup2(in, 0);
    ::dup2(o, 1);
    ::dup2(e, 2);
    if (::chdir(cwd.c_str()) != 0) ::_exit(126);
    for (const std::string& kv : lim.env) ::putenv(const_cast<char*>(kv.c_str()));
    std::vector<char*> argv{const_cast<char*>(DICE_BINARY)};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(DICE_BINARY, argv.data());
    ::_exit(127);
  }
  Result r;
  int status = 0;
  for (;;) {
    if (::waitpid(pid, &status, WNOHANG) == pid) break;
    if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(lim.timeout_s)) {
      r.timed_out = true;
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  r.out = slurp(out_path);
  r.err = slurp(err_path);
  return r;
}

// name -> type, size, mtime, content hash (regular files) or link target (symlinks), recursively;
// FIFOs and devices are recorded by type only (opening them could block).
using Snapshot = std::map<std::string, std::string>;

inline void snapshot_into(const std::string& dir, const std::string& rel, Snapshot* s) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d))
    if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) names.push_back(e->d_name);
  ::closedir(d);
  for (const std::string& n : names) {
    const std::string path = dir + "/" + n, key = rel + n;
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) continue;
    std::string v = std::to_string(st.st_mode) + " " + std::to_string(st.st_size) + " " +
                    std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
    if (S_ISREG(st.st_mode)) {
      const std::string bytes = slurp(path);
      uint64_t h = 1469598103934665603ull;
      for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
      v += " " + std::to_string(h);
    } else if (S_ISLNK(st.st_mode)) {
      char buf[4096];
      ssize_t k = ::readlink(path.c_str(), buf, sizeof buf);
      v += " -> " + std::string(buf, k > 0 ? static_cast<size_t>(k) : 0);
    } else if (S_ISDIR(st.st_mode)) {
      v = "folder";  // its mtime moves when a temporary comes and goes: compare the contents
      snapshot_into(path, key + "/", s);
    }
    (*s)[key] = v;
  }
}

inline Snapshot snapshot(const std::string& dir) {
  Snapshot s;
  snapshot_into(dir, "", &s);
  return s;
}

inline int line_count(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n + (!s.empty() && s.back() != '\n');
}

// The rule: `dice ARGS` run in `dir` fails cleanly, names `needle` on stderr, changes nothing.
inline void expect_refused(const std::vector<std::string>& args, const std::string& dir,
                           const std::string& needle, const Limits& lim = {}) {
  std::string cmd = "dice";
  for (const std::string& a : args) cmd += " " + a;
  SCOPED_TRACE(cmd);
  const Snapshot before = snapshot(dir);
  const Result r = run(args, dir, lim);
  EXPECT_FALSE(r.timed_out) << "ran past " << lim.timeout_s << " s";
  EXPECT_EQ(r.signal, 0) << "killed by signal " << r.signal << "; stderr: " << r.err;
  EXPECT_GE(r.exit_code, 1) << r.err;
  EXPECT_LE(r.exit_code, 127) << r.err;
  EXPECT_LE(line_count(r.err), 3) << r.err;
  EXPECT_LT(r.err.size(), 2000u) << "stderr runs to " << r.err.size() << " bytes";
  for (unsigned char c : r.err)
    if ((c < 0x20 && c != '\n') || c == 0x7f) {
      ADD_FAILURE() << "stderr holds control character " << int(c);
      break;
    }
  EXPECT_NE(r.err.find(needle), std::string::npos)
      << "stderr should name '" << needle << "': " << r.err;
  EXPECT_EQ(snapshot(dir), before) << "the folder changed; stderr: " << r.err;
  EXPECT_LT(r.seconds, 60.0);
  if (std::getenv("DICE_HOSTILE_VERBOSE")) std::printf("  stderr: %s", r.err.c_str());
}

// A small scratch folder with a copy of the fixture network as w.pth.
inline std::string folder_with_weights() {
  const std::string dir = dice::test::temp_dir();
  const std::string bytes = slurp(dice::test::fixture("nn/densenet40_c10.pth.tar"));
  std::ofstream(dir + "/w.pth", std::ios::binary) << bytes;
  return dir;
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

}  // namespace dice::hostile
