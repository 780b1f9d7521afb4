// The decode budget shared by the loader threads (see decode_budget.h).
#include "data/decode_budget.h"

#include <condition_variable>
#include <mutex>

#include "core/echo.h"
#include "core/error.h"
#include "core/limits.h"

namespace dice {
namespace {

std::mutex g_mutex;
std::condition_variable g_released;
uint64_t g_in_use = 0;

}  // namespace

uint64_t decode_estimate(int64_t w, int64_t h, uint64_t file_bytes) {
  return 16 * (static_cast<uint64_t>(w) + 32) * (static_cast<uint64_t>(h) + 32) + 2 * file_bytes;
}

DecodeReservation::DecodeReservation(uint64_t bytes, const std::string& name) : bytes_(bytes) {
  const uint64_t budget = decode_budget_bytes();
  if (bytes > budget)
    throw_error(echo(name), ": decoding it needs about ", (bytes + (1 << 20) - 1) >> 20,
                " MB, over the ", budget >> 20,
                " MB decode budget (DICE_DECODE_MB); raise it or shrink the image");
  std::unique_lock<std::mutex> lock(g_mutex);
  g_released.wait(lock, [&] { return g_in_use + bytes <= budget; });
  g_in_use += bytes;
}

DecodeReservation::~DecodeReservation() {
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_in_use -= bytes_;
  }
  g_released.notify_all();
}

}  // namespace dice
