// Shared bits of the libFuzzer targets. Each target feeds the fuzzer's bytes to one parser and
// catches dice::Error only: that is the documented way to reject bad input, so anything else
// (another exception, an abort, a sanitizer report, a leak, a timeout) is a bug the fuzzer keeps.
// DICE_FUZZ_CHECK is the targets' own oracle (e.g. a write-then-read round trip must be exact).
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/error.h"

#define DICE_FUZZ_CHECK(cond)                                                        \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::fprintf(stderr, "%s:%d: fuzz oracle failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                  \
    }                                                                                \
  } while (0)

namespace dice_fuzz {

// A private scratch folder for targets whose parser only takes a path (the CIFAR readers):
// made once per process under $TMPDIR, removed at exit.
inline const std::string& scratch_dir() {
  static std::string dir = [] {
    const char* t = std::getenv("TMPDIR");
    std::string tmpl = std::string(t && *t ? t : "/tmp") + "/dice-fuzz-XXXXXX";
    if (!::mkdtemp(&tmpl[0])) {
      std::perror("mkdtemp");
      std::abort();
    }
    static std::string keep = tmpl;
    std::atexit([] { std::string cmd = "rm -rf '" + keep + "'"; (void)!std::system(cmd.c_str()); });
    return tmpl;
  }();
  return dir;
}

// Writes bytes to scratch_dir()/name (overwriting) and returns the path.
inline std::string write_scratch(const std::string& name, const uint8_t* data, size_t size) {
  std::string path = scratch_dir() + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || (size && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) {
    std::perror(path.c_str());
    std::abort();
  }
  return path;
}

}  // namespace dice_fuzz
