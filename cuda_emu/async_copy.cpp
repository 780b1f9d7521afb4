// cuda_emu's cp.async: the non-bulk asynchronous copies from global to shared memory, with the
// completion rules of the PTX ISA 9.0, sections 9.7.9.25.1.1 (async-groups) and 9.7.9.25.3.1-3
// (cp.async, cp.async.commit_group, cp.async.wait_group / cp.async.wait_all):
//   - cp.async.{ca,cg}.shared.global [dst], [src], cp-size, src-size copies cp-size bytes (4, 8 or
//     16; .cg only 16): src-size of them from src, the rest zeros. Both addresses are aligned to
//     cp-size.
//   - commit_group batches the thread's uncommitted copies into a new group (possibly empty);
//     groups complete in commit order.
//   - wait_group N waits until at most the N most recent groups are pending; wait_all is
//     commit_group then wait_group 0. The writes of a copy are visible to the issuing thread only
//     once a wait covering its group has completed (to others, after a barrier as usual).
//   - Reading the destination before completion, or two copies of one group writing the same
//     bytes, is undefined.
// The emulation is the latest completion the ISA allows: a copy is queued on its thread and
// performed at the wait that covers it, and its destination is filled with poison (0xFF bytes) at
// issue. So a kernel that reads a stage without waiting for it sees NaN on every run, and one
// that overwrites a stage another thread still reads sees it in one of the two thread orders
// (DICE_EMU_ORDER), instead of, as on a GPU, only when the timing is unlucky. Copies a thread never waits for are dropped when its block ends (their destination was
// about to disappear anyway). Misuses that ptxas or the hardware would not accept, or that the ISA
// leaves undefined, stop the program with a message.
#include <algorithm>
#include <cstring>

#include <cuda_runtime.h>

#include "cuda_emu/internal.h"

namespace dice::emu {
namespace {

// Performs (in issue order) and forgets the queued copies of every group below `group_end`. The
// queue is ordered by group: commit_group numbers every uncommitted copy, and those are the last.
void complete_groups(AsyncCopies& q, uint64_t group_end) {
  const auto end = std::find_if(q.copies.begin(), q.copies.end(),
                                [&](const AsyncCopy& c) { return c.group >= group_end; });
  // Within a group there is no order: two copies onto the same bytes are a race.
  std::vector<AsyncCopy> by_dst(q.copies.begin(), end);
  std::sort(by_dst.begin(), by_dst.end(), [](const AsyncCopy& a, const AsyncCopy& b) {
    return a.group != b.group ? a.group < b.group
                              : static_cast<char*>(a.dst) < static_cast<char*>(b.dst);
  });
  for (size_t i = 1; i < by_dst.size(); ++i) {
    const AsyncCopy& a = by_dst[i - 1];
    const AsyncCopy& b = by_dst[i];
    if (a.group == b.group && static_cast<char*>(a.dst) + a.bytes > static_cast<char*>(b.dst))
      die_in_kernel("two cp.async of one group write the same shared memory (undefined)");
  }
  for (auto c = q.copies.begin(); c != end; ++c) {
    if (c->src_bytes > 0) std::memcpy(c->dst, c->src, static_cast<size_t>(c->src_bytes));
    std::memset(static_cast<char*>(c->dst) + c->src_bytes, 0,
                static_cast<size_t>(c->bytes - c->src_bytes));
    q.unfenced.emplace_back(static_cast<const char*>(c->dst), static_cast<size_t>(c->bytes));
  }
  q.copies.erase(q.copies.begin(), end);
  q.completed = group_end;
}

}  // namespace

void cp_async(void* dst, const void* src, int bytes, int src_bytes, bool cache_global) {
  if (bytes != 4 && bytes != 8 && bytes != 16)
    die_in_kernel("cp.async: cp-size must be 4, 8 or 16");
  if (cache_global && bytes != 16) die_in_kernel("cp.async.cg copies 16 bytes only");
  if (src_bytes < 0 || src_bytes > bytes)
    die_in_kernel("cp.async: src-size must be between 0 and cp-size");
  if (reinterpret_cast<uintptr_t>(dst) % static_cast<uintptr_t>(bytes) != 0 ||
      reinterpret_cast<uintptr_t>(src) % static_cast<uintptr_t>(bytes) != 0)
    die_in_kernel("cp.async: an address is not aligned to cp-size");
  if (!in_shared_memory(dst, static_cast<size_t>(bytes)))
    die_in_kernel("cp.async: the destination is not inside the block's shared memory");
  if (src_bytes > 0 && !in_device_memory(src, static_cast<size_t>(src_bytes)))
    die_in_kernel("cp.async: the source is not inside a device allocation");
  std::memset(dst, 0xFF, static_cast<size_t>(bytes));  // undefined until the wait: poison
  async_copies().copies.push_back(AsyncCopy{dst, src, bytes, src_bytes, kUncommitted});
}

void cp_async_commit_group() {
  AsyncCopies& q = async_copies();
  for (AsyncCopy& c : q.copies)
    if (c.group == kUncommitted) c.group = q.committed;
  ++q.committed;
}

void cp_async_wait_group(int n) {
  if (n < 0) die_in_kernel("cp.async.wait_group: N must not be negative");
  AsyncCopies& q = async_copies();
  const uint64_t pending_allowed = static_cast<uint64_t>(n);
  if (q.committed > pending_allowed && q.completed < q.committed - pending_allowed)
    complete_groups(q, q.committed - pending_allowed);
}

void fence_proxy_async() {
  async_copies().unfenced.clear();
}

void cp_async_wait_all() {
  cp_async_commit_group();
  cp_async_wait_group(0);
}

}  // namespace dice::emu
