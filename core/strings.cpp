// appendf (see strings.h).
#include "core/strings.h"

#include <cstdarg>
#include <cstdio>

namespace dice {

void appendf(std::string& s, const char* fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  const int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n < static_cast<int>(sizeof buf)) {
    s.append(buf, static_cast<size_t>(n));
    return;
  }
  const size_t at = s.size();
  s.resize(at + static_cast<size_t>(n) + 1);
  va_start(ap, fmt);
  std::vsnprintf(&s[at], static_cast<size_t>(n) + 1, fmt, ap);
  va_end(ap);
  s.pop_back();  // the terminating NUL
}

}  // namespace dice
