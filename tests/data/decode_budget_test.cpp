// data/decode_budget: reservations share one budget across threads (a second large decode waits
// for the first to finish), and a single image over the whole budget is refused naming it.
#include "data/decode_budget.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "core/error.h"
#include "core/limits.h"

namespace {

TEST(DecodeBudget, LargeDecodesTakeTurns) {
  const uint64_t big = dice::decode_budget_bytes() / 2 + 1;  // two cannot fit at once
  std::atomic<int> holding{0}, most{0};
  auto decode = [&] {
    dice::DecodeReservation r(big, "img.jpg");
    const int now = ++holding;
    int seen = most.load();
    while (now > seen && !most.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    --holding;
  };
  std::thread a(decode), b(decode), c(decode);
  a.join();
  b.join();
  c.join();
  EXPECT_EQ(most.load(), 1);
  // Small ones share it.
  dice::DecodeReservation x(1 << 20, "x.png"), y(1 << 20, "y.png");
}

TEST(DecodeBudget, ImageOverTheWholeBudgetIsRefused) {
  try {
    dice::DecodeReservation r(dice::decode_budget_bytes() + 1, "huge.jpg");
    FAIL() << "reserved more than the budget";
  } catch (const dice::Error& e) {
    EXPECT_NE(std::string(e.what()).find("huge.jpg"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("DICE_DECODE_MB"), std::string::npos) << e.what();
  }
  EXPECT_EQ(dice::decode_estimate(100, 50, 10), 16u * 132 * 82 + 20);
}

}  // namespace
