// The CUDA runtime helpers: arena alignment, bounds and reset; device/pinned buffers round-trip;
// events time a stream. The arena's arithmetic and its refusal to overflow are checked without a
// GPU (an empty arena allocates nothing); the rest is skipped when no device is present.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "gpu/cuda_check.h"
#include "gpu/cuda_memory.h"
#include "test_util.h"

namespace dice {
namespace {


TEST(DeviceArenaSizing, RoundsUpTo256) {
  static_assert(DeviceArena::aligned(0) == 0);
  EXPECT_EQ(DeviceArena::aligned(1), 256u);
  EXPECT_EQ(DeviceArena::aligned(256), 256u);
  EXPECT_EQ(DeviceArena::aligned(257), 512u);
  DeviceArena empty;  // no memory: any non-empty request must throw, a zero-byte one succeeds
  EXPECT_THROW(empty.alloc_bytes(1), Error);
  EXPECT_NO_THROW(empty.alloc_bytes(0));
}

TEST(DeviceArena, BumpsAlignedAndResets) {
  DICE_REQUIRE_GPU();
  DeviceArena arena(1000);  // rounds up to 1024
  EXPECT_EQ(arena.capacity(), 1024u);
  float* a = arena.alloc<float>(1);
  int32_t* b = arena.alloc<int32_t>(70);  // 280 bytes -> 512
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % 256, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b) % 256, 0u);
  EXPECT_EQ(reinterpret_cast<char*>(b) - reinterpret_cast<char*>(a), 256);
  EXPECT_EQ(arena.used(), 768u);
  EXPECT_THROW(arena.alloc_bytes(257), Error);  // 512 > 256 left
  arena.reset();
  EXPECT_EQ(arena.alloc<float>(1), a);
}

TEST(DeviceBuffer, RoundTripsThroughPinnedMemory) {
  DICE_REQUIRE_GPU();
  Stream stream;
  PinnedBuffer<float> host(1000), back(1000);
  for (int64_t i = 0; i < 1000; ++i) host[i] = static_cast<float>(i) * 0.5f;
  DeviceBuffer<float> d(1000), d2(1000);
  Event start, stop;
  start.record(stream);
  copy_to_device(d.data(), host.data(), 1000, stream);
  copy_bytes_on_device(d2.data(), d.data(), d.bytes(), stream);
  copy_to_host(back.data(), d2.data(), 1000, stream);
  stop.record(stream);
  stream.synchronize();
  EXPECT_GE(Event::elapsed_ms(start, stop), 0.0f);
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(back[i], host[i]) << i;

  const std::vector<float> v = {1, 2, 3};
  DeviceBuffer<float> small(v);
  EXPECT_EQ(small.download(), v);
  small.poison();
  for (float x : small.download()) EXPECT_TRUE(x != x);  // NaN
}

}  // namespace
}  // namespace dice
