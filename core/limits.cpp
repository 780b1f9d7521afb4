// The absolute memory caps and their environment variables (see limits.h).
#include "core/limits.h"

#include <cstdlib>

#include "core/echo.h"
#include "core/error.h"

namespace dice {
namespace {

uint64_t megabytes_from_env(const char* var, uint64_t fallback_mb) {
  const char* v = std::getenv(var);
  if (!v || !*v) return fallback_mb << 20;
  char* end = nullptr;
  const unsigned long long mb = std::strtoull(v, &end, 10);
  if (*end || mb == 0 || mb > (uint64_t(1) << 30))
    throw_error("environment variable ", var, " must be a number of megabytes (1 to 2^30), got '",
                echo(v), "'");
  return static_cast<uint64_t>(mb) << 20;
}

}  // namespace

uint64_t max_input_bytes() {
  static const uint64_t v = megabytes_from_env("DICE_MAX_INPUT_MB", 2048);
  return v;
}

uint64_t decode_budget_bytes() {
  static const uint64_t v = megabytes_from_env("DICE_DECODE_MB", 3072);
  return v;
}

void throw_input_limit(const std::string& name, const std::string& what, uint64_t bytes) {
  throw_error(echo(name), ": ", what, " needs ", (bytes + (1 << 20) - 1) >> 20,
              " MB, over the limit of ", max_input_bytes() >> 20,
              " MB (DICE_MAX_INPUT_MB); raise it if the file is genuine");
}

}  // namespace dice
