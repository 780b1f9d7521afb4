// What cuda_emu's source files share with one another and not with kernels (the kernels' side is
// cuda_emu/include/cuda_runtime.h): grid execution, the memory checks, the per-thread queue of
// cp.async copies, and the device-side fatal error.
//
// Kept apart from the public header so that nothing a kernel includes can reach the emulator's
// bookkeeping. The block runner's functions must be called on the OS thread that runs the block
// (it keeps its state per OS thread).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include <cuda_runtime.h>

namespace dice::emu {

// runtime.cpp -------------------------------------------------------------------------------------
// True if [p, p + bytes) lies inside one cudaMalloc allocation.
bool in_device_memory(const void* p, size_t bytes);

// block_runner.cpp --------------------------------------------------------------------------------
// Runs every block of a launch (after runtime.cpp has validated the configuration).
void run_grid(dim3 grid, dim3 block, size_t dynamic_shared_bytes,
              const std::function<void()>& kernel);
// True if [p, p + bytes) lies inside the running block's dynamic shared memory or inside one of
// the static shared arrays it has declared so far.
bool in_shared_memory(const void* p, size_t bytes);
// The shared memory at .shared address `address` (see shared_window_address) if [address,
// address + bytes) lies in one array of the running block; nullptr otherwise.
const char* shared_at_window(uint32_t address, size_t bytes);
// Stops the program with `what`, naming the block and thread that were running.
[[noreturn]] void die_in_kernel(const char* what);
// The calling thread's lane in its warp (its linear index in the block, modulo 32).
int lane_id();

// One cp.async in flight: `src_bytes` bytes from src, then zeros, up to `bytes` at dst.
struct AsyncCopy {
  void* dst;
  const void* src;
  int bytes, src_bytes;
  uint64_t group;  // kUncommitted until cp.async.commit_group
};
constexpr uint64_t kUncommitted = ~uint64_t{0};
// A thread's cp.async state (async_copy.cpp): copies in issue order, and the groups it has
// committed so far and completed so far (groups complete in commit order).
// `unfenced`: the shared bytes its completed copies wrote (generic proxy) since its last
// fence.proxy.async; wgmma (async proxy) must not read them.
struct AsyncCopies {
  std::vector<AsyncCopy> copies;
  uint64_t committed = 0, completed = 0;
  std::vector<std::pair<const char*, size_t>> unfenced;
  void clear() {
    copies.clear();
    unfenced.clear();
    committed = completed = 0;
  }
};
// The calling (emulated) thread's queue; the block runner empties it when a block starts.
AsyncCopies& async_copies();
// True if a thread of the running block wrote some of [p, p + bytes) by cp.async and has not
// issued fence.proxy.async since.
bool unfenced_shared_write(const char* p, size_t bytes);

// wgmma.cpp ---------------------------------------------------------------------------------------
// The block runner's hooks: a block with `groups` warpgroups starts (no wgmma pending), and ends
// (stops the program if a wgmma was never waited for).
void wgmma_block_start(int groups);
void wgmma_block_end();

}  // namespace dice::emu
