// dice::Error and the assert macro: the two ways code in this project fails.
// A dice::Error is a problem a user can cause and fix (missing file, bad magic, wrong shape); its
// message names the file and says what to do, and the CLI prints it as one line. DICE_ASSERT is for
// broken internal invariants: it aborts with file:line, since no user action can fix those.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>

namespace dice {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Builds a message from any streamable parts: throw_error(path, ": bad magic; re-export with ...").
template <typename... Parts>
[[noreturn]] void throw_error(const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  throw Error(os.str());
}

}  // namespace dice

#define DICE_ASSERT(cond)                                                              \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "%s:%d: internal error: assertion '%s' failed\n", __FILE__, \
                   __LINE__, #cond);                                                   \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)
