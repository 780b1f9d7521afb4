// cuda_emu's execution of a grid on the CPU: blocks spread over the CPU thread pool, each block
// run whole by one OS thread, the threads of a block as fibers on that OS thread.
//
// A fiber runs until it reaches __syncthreads, a warp collective (shuffle, mma.sync, ldmatrix) or
// the end of the kernel, then yields to the block's scheduler. The scheduler runs one warp at a
// time as far as it goes: its lanes in turn, its collective as soon as all 32 lanes are there, again,
// until the whole warp waits at __syncthreads (or is done); then the next warp; when every thread
// is at the barrier it releases it. So a value written to shared memory before a barrier is seen
// by every thread after it, and a read that lacks its barrier sees whatever the scheduling order
// gives: one warp runs ahead of the others up to its next barrier (the first warp; the last one,
// lanes last to first, with DICE_EMU_ORDER=reverse), and a kernel whose results change with the
// order has a race (the GPU check's racecheck, on a CPU).
//
// Shared memory starts every block as 0xFF bytes (NaN as float or half, -1 as an integer), as if
// the block had inherited another's leftovers: dynamic shared memory is filled when the block
// starts, each static array (DICE_SHARED) when the block's first thread reaches its declaration,
// since an OS thread keeps one copy of it (thread_local) for all the blocks it runs. So a kernel
// that reads shared memory nobody wrote, or a cp.async destination before its wait, sees poison.
//
// Named barriers (bar.sync / bar.arrive with an id 1..15 and a thread count, the producer /
// consumer handshake of warp-specialised kernels) release their waiters when the count is
// reached; warpgroup collectives (wgmma) complete when all 128 threads of the group are there.
//
// Hardware rules enforced with a message and abort (device code cannot throw): a barrier some
// threads of the block never reach, named barriers that deadlock or disagree on their count,
// collectives whose lanes disagree, and masks other than the full warp. Fibers start once through ucontext and then switch with _setjmp/_longjmp, which save
// no signal mask (no system call per switch). They live as long as the OS thread and run block
// after block; each has a 256 KiB stack with a guard page below it. Under AddressSanitizer every
// switch is announced (__sanitizer_start/finish_switch_fiber), so that ASan checks the kernels'
// memory accesses (device buffers are heap blocks: a kernel reading past one is reported, the job
// of compute-sanitizer's memcheck on a GPU) without mistaking the stack switches for errors.
#undef _FORTIFY_SOURCE  // longjmp between fiber stacks is intended; the checked variant forbids it
#include <setjmp.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <array>
#include <atomic>
#include <cstring>
#include <memory>
#include <vector>

#include <cuda_runtime.h>

#include "core/parallel.h"
#include "cuda_emu/internal.h"

#if defined(__SANITIZE_ADDRESS__)
#define DICE_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DICE_EMU_ASAN 1
#endif
#endif
#ifdef DICE_EMU_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

namespace dice::emu {
namespace {

// ASan's fiber protocol: start_switch before leaving a stack (saving this stack's fake frames),
// finish_switch on arrival (learning the bounds of the stack that was left). No-ops otherwise.
inline void asan_leave(void** fake_stack_save, const void* to_bottom, size_t to_size) {
#ifdef DICE_EMU_ASAN
  __sanitizer_start_switch_fiber(fake_stack_save, to_bottom, to_size);
#else
  (void)fake_stack_save, (void)to_bottom, (void)to_size;
#endif
}
inline void asan_arrive(void* fake_stack_save, const void** from_bottom, size_t* from_size) {
#ifdef DICE_EMU_ASAN
  __sanitizer_finish_switch_fiber(fake_stack_save, from_bottom, from_size);
#else
  (void)fake_stack_save, (void)from_bottom, (void)from_size;
#endif
}

constexpr size_t kStackBytes = 256 * 1024;

enum class State { kRunnable, kAtBarrier, kAtNamedBarrier, kAtWarp, kAtWarpgroup, kDone };

struct Fiber {
  ucontext_t start;
  jmp_buf resume_point;
  bool started = false;
  State state = State::kRunnable;
  uint3 tid{0, 0, 0};
  WarpOp op = nullptr;
  WarpgroupOp group_op = nullptr;
  int named_id = 0;  // the named barrier it waits at (State::kAtNamedBarrier)
  unsigned mask = 0;
  const void* in = nullptr;
  void* out = nullptr;
  char* stack = nullptr;
  void* fake_stack = nullptr;  // ASan's saved fake frames while the fiber is suspended
  AsyncCopies async;           // its cp.async copies not yet waited for
};

// A shared array of the running block: where it is on this OS thread, and its .shared window
// address (what cvta.to.shared would give; equal to the host address modulo 2048).
struct SharedRange {
  const char* begin;
  size_t bytes;
  uint32_t window;
};
constexpr uint32_t kWindowBytes = 256 * 1024;  // what an 18-bit wgmma descriptor address reaches

struct Block {
  std::vector<std::unique_ptr<Fiber>> pool;  // kept across blocks and launches on this thread
  std::vector<Fiber*> fibers;                // the launch's threads: pool[0 .. n)
  std::vector<char> dynamic_shared;
  std::vector<SharedRange> static_shared;  // declared so far in this block
  size_t static_shared_bytes = 0;
  uint32_t next_window = 0;  // where the next array's window may start
  // Named barriers 1..15 (bar.sync / bar.arrive id, count): threads counted so far in the current
  // phase and the count they expect (0: idle). Barrier 0 is __syncthreads.
  std::array<int, 16> named_arrived{}, named_expected{};
  uint64_t serial = 0;  // counts the blocks this OS thread has run: names the current one
  jmp_buf scheduler;
  void* scheduler_fake_stack = nullptr;  // ASan: the scheduler's, while a fiber runs
  const void* scheduler_stack_bottom = nullptr;
  size_t scheduler_stack_size = 0;
  Fiber* current = nullptr;
  const std::function<void()>* kernel = nullptr;
  uint3 block_idx{0, 0, 0};
  dim3 block_dim, grid_dim;
};

thread_local Block t_block;
thread_local bool t_in_kernel = false;

[[noreturn]] void die(const char* what) {
  const Block& b = t_block;
  std::fprintf(stderr,
               "cuda_emu: %s (block %u,%u,%u of %ux%ux%u, thread %u,%u,%u of %ux%ux%u)\n", what,
               b.block_idx.x, b.block_idx.y, b.block_idx.z, b.grid_dim.x, b.grid_dim.y,
               b.grid_dim.z, b.current ? b.current->tid.x : 0, b.current ? b.current->tid.y : 0,
               b.current ? b.current->tid.z : 0, b.block_dim.x, b.block_dim.y, b.block_dim.z);
  std::abort();
}

Fiber& current() {
  if (!t_in_kernel || t_block.current == nullptr)
    die("a device built-in was called outside a kernel");
  return *t_block.current;
}

char* new_stack() {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void* p = mmap(nullptr, kStackBytes + page, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) die("cannot map a fiber stack");
  mprotect(p, page, PROT_NONE);  // guard: an overflow faults instead of corrupting a neighbour
  return static_cast<char*>(p) + page;
}

void yield(State why);

// A fiber runs the current kernel once per block it is resumed for.
void fiber_entry() {
  Block& b = t_block;
  asan_arrive(nullptr, &b.scheduler_stack_bottom, &b.scheduler_stack_size);
  for (;;) {
    (*t_block.kernel)();
    yield(State::kDone);
  }
}

// Runs `f` until it yields or finishes.
void resume(Fiber& f) {
  Block& b = t_block;
  b.current = &f;
  if (_setjmp(b.scheduler) == 0) {
    asan_leave(&b.scheduler_fake_stack, f.stack, kStackBytes);
    if (!f.started) {
      f.started = true;
      getcontext(&f.start);
      f.start.uc_stack.ss_sp = f.stack;
      f.start.uc_stack.ss_size = kStackBytes;
      f.start.uc_link = nullptr;
      makecontext(&f.start, fiber_entry, 0);
      setcontext(&f.start);
    }
    _longjmp(f.resume_point, 1);
  }
  asan_arrive(b.scheduler_fake_stack, nullptr, nullptr);
  b.current = nullptr;
}

// Called on a fiber: back to the scheduler until it resumes this fiber.
void yield(State why) {
  Block& b = t_block;
  Fiber& f = *b.current;
  f.state = why;
  if (_setjmp(f.resume_point) == 0) {
    asan_leave(&f.fake_stack, b.scheduler_stack_bottom, b.scheduler_stack_size);
    _longjmp(b.scheduler, 1);
  }
  asan_arrive(f.fake_stack, &b.scheduler_stack_bottom, &b.scheduler_stack_size);
}

std::atomic<int> g_order{-1};  // -1: not yet read from DICE_EMU_ORDER


// Completes the collective of warp w0 / 32 (lanes w0 .. w0 + lanes) if its lanes have all arrived
// at one; true if it did. Lanes split between a collective and a barrier or the exit are an error.
bool complete_warp_collective(Block& b, int w0, int lanes) {
  int arrived = 0, done = 0;
  for (int l = 0; l < lanes; ++l) {
    const State s = b.fibers[w0 + l]->state;
    if (s == State::kRunnable) return false;  // not all there yet
    arrived += s == State::kAtWarp;
    done += s == State::kDone;
  }
  if (arrived == 0) return false;
  if (arrived != lanes) {
    b.current = b.fibers[w0];
    die(done ? "a warp collective waits for lanes that have exited"
             : "a warp collective waits for lanes that are at __syncthreads (divergent code)");
  }
  std::array<const void*, 32> ins;
  std::array<void*, 32> outs;
  const Fiber& first = *b.fibers[w0];
  const unsigned full = lanes == 32 ? 0xFFFFFFFFu : (1u << lanes) - 1u;
  for (int l = 0; l < lanes; ++l) {
    const Fiber& f = *b.fibers[w0 + l];
    if (f.op != first.op) {
      b.current = b.fibers[w0 + l];
      die("the lanes of a warp reached different collectives (shuffle / mma.sync / ldmatrix)");
    }
    if ((f.mask & full) != full) {
      b.current = b.fibers[w0 + l];
      die("a warp collective with a partial lane mask (the emulator supports full warps only)");
    }
    ins[l] = f.in;
    outs[l] = f.out;
  }
  first.op(ins.data(), outs.data(), lanes);
  for (int l = 0; l < lanes; ++l) b.fibers[w0 + l]->state = State::kRunnable;
  return true;
}

// Completes the collective of warpgroup g (threads 128 g .. 128 g + 127, wgmma's unit) once all
// of its threads wait at one; true if it did. Called when no thread can run: a group with some
// threads at a warpgroup collective and others at a barrier or done is divergent code.
bool complete_warpgroup_collective(Block& b, int g) {
  const int n = static_cast<int>(b.fibers.size());
  const int t0 = 128 * g;
  int arrived = 0;
  for (int t = t0; t < t0 + 128 && t < n; ++t) arrived += b.fibers[t]->state == State::kAtWarpgroup;
  if (arrived == 0) return false;
  if (n - t0 < 128) {
    b.current = b.fibers[t0];
    die("a warpgroup collective (wgmma) in a block whose size is not a multiple of 128");
  }
  if (arrived != 128) {
    for (int t = t0; t < t0 + 128; ++t) {
      const State st = b.fibers[t]->state;
      if (st == State::kAtNamedBarrier) return false;  // may still come, once released
      if (st != State::kAtWarpgroup) b.current = b.fibers[t];
    }
    die("a warpgroup collective waits for threads at __syncthreads or exited (divergent code)");
  }
  std::array<const void*, 128> ins;
  std::array<void*, 128> outs;
  const WarpgroupOp op = b.fibers[t0]->group_op;
  for (int l = 0; l < 128; ++l) {
    const Fiber& f = *b.fibers[t0 + l];
    if (f.group_op != op) {
      b.current = b.fibers[t0 + l];
      die("the threads of a warpgroup reached different wgmma instructions");
    }
    ins[l] = f.in;
    outs[l] = f.out;
  }
  b.current = b.fibers[t0];  // names the group in messages
  op(ins.data(), outs.data(), g);
  b.current = nullptr;
  for (int l = 0; l < 128; ++l) b.fibers[t0 + l]->state = State::kRunnable;
  return true;
}

// Gives [p, p + bytes) the next window in the block's .shared address space; static arrays are
// kept in b.static_shared (the dynamic array is found by its own range).
uint32_t add_window(Block& b, const char* p, size_t bytes) {
  const uint32_t low = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(p) % 2048);
  const uint32_t window = (b.next_window + 2047) / 2048 * 2048 + low;
  if (window + bytes > kWindowBytes) die("the block's shared memory exceeds 256 KiB of .shared addresses");
  b.next_window = window + static_cast<uint32_t>(bytes);
  return window;
}

// Scheduling, warp by warp: the first warp (the last with DICE_EMU_ORDER=reverse) runs as far as
// it can, through all of its collectives, until every lane is at __syncthreads or done; then the
// next warp. Warps on a GPU are not synchronised between barriers, and this order is the most
// adversarial one for that: a warp that reads shared memory other warps fill, without the barrier
// in between, runs ahead of them and reads poison (or cp.async data they have not waited for).
// Within a warp the lanes run first to last (last to first in reverse).
void run_block(Block& b) {
  const int n = static_cast<int>(b.fibers.size());
  for (Fiber* f : b.fibers) {
    f->state = State::kRunnable;
    f->async.clear();  // copies a thread of the previous block never waited for are dropped
  }
  // Shared memory starts as poison (see the top of the file): the dynamic part now, each static
  // array at its first declaration in this block (enter_static_shared).
  ++b.serial;
  b.static_shared.clear();
  b.static_shared_bytes = 0;
  b.next_window = 0;
  b.named_arrived.fill(0);
  b.named_expected.fill(0);
  if (!b.dynamic_shared.empty()) {
    std::memset(b.dynamic_shared.data(), 0xFF, b.dynamic_shared.size());
    add_window(b, b.dynamic_shared.data(), b.dynamic_shared.size());
  }
  const bool reverse = schedule_order() == Order::kReverse;
  const int warps = (n + 31) / 32;
  const int groups = (n + 127) / 128;
  wgmma_block_start(groups);
  for (;;) {
    for (int wk = 0; wk < warps; ++wk) {
      const int w0 = (reverse ? warps - 1 - wk : wk) * 32;
      const int lanes = n - w0 < 32 ? n - w0 : 32;
      do {
        for (int k = 0; k < lanes; ++k) {
          Fiber& f = *b.fibers[w0 + (reverse ? lanes - 1 - k : k)];
          if (f.state == State::kRunnable) resume(f);
        }
      } while (complete_warp_collective(b, w0, lanes));
    }
    // Every warp now waits at a barrier, at a warpgroup collective, or is done, or was released
    // from a named barrier after its turn in this pass: those run first, in another pass. Only
    // then do the threads parked at a bar.arrive go on, so whatever they write after the arrive
    // comes too late for the threads it released.
    // (Warpgroup collectives complete before that too: the released threads' wgmma must be
    // issued while the arriving thread still waits.)
    bool progressed = false;
    for (const Fiber* f : b.fibers) progressed = progressed || f->state == State::kRunnable;
    if (progressed) continue;
    for (int gk = 0; gk < groups; ++gk)
      progressed = complete_warpgroup_collective(b, reverse ? groups - 1 - gk : gk) || progressed;
    if (progressed) continue;
    for (Fiber* f : b.fibers)
      if (f->state == State::kAtNamedBarrier && f->named_id == -1) {
        f->state = State::kRunnable;
        progressed = true;
      }
    if (progressed) continue;
    int at_barrier = 0, done = 0, at_named = 0, runnable = 0;
    for (const Fiber* f : b.fibers) {
      at_barrier += f->state == State::kAtBarrier;
      done += f->state == State::kDone;
      at_named += f->state == State::kAtNamedBarrier;
      runnable += f->state == State::kRunnable;  // released from a named barrier this pass
    }
    if (runnable > 0) continue;
    if (done == n) {
      for (int id = 1; id < 16; ++id)
        if (b.named_arrived[static_cast<size_t>(id)] != 0)
          die("the block ended with threads counted at a named barrier that never completed");
      wgmma_block_end();
      return;
    }
    if (at_named > 0) {
      for (Fiber* f : b.fibers)
        if (f->state == State::kAtNamedBarrier) b.current = f;
      die("deadlock: threads wait at a named barrier (bar.sync) that the others never complete");
    }
    if (done > 0) {
      for (Fiber* f : b.fibers)
        if (f->state == State::kAtBarrier) b.current = f;
      die("__syncthreads waits for threads that have exited the kernel");
    }
    if (at_barrier != n) die("scheduler invariant broken");
    for (Fiber* f : b.fibers) f->state = State::kRunnable;  // everyone is at the barrier
  }
}

}  // namespace

Order schedule_order() {
  int o = g_order.load(std::memory_order_relaxed);
  if (o < 0) {
    const char* v = std::getenv("DICE_EMU_ORDER");
    o = v != nullptr && std::strcmp(v, "reverse") == 0 ? 1 : 0;
    g_order.store(o, std::memory_order_relaxed);
  }
  return o == 1 ? Order::kReverse : Order::kForward;
}
void set_schedule_order(Order order) {
  g_order.store(order == Order::kReverse ? 1 : 0, std::memory_order_relaxed);
}

const uint3& thread_idx() { return current().tid; }
const uint3& block_idx() {
  current();
  return t_block.block_idx;
}
const dim3& block_dim() {
  current();
  return t_block.block_dim;
}
const dim3& grid_dim() {
  current();
  return t_block.grid_dim;
}
void* dynamic_shared() {
  current();
  return t_block.dynamic_shared.empty() ? nullptr : t_block.dynamic_shared.data();
}
void enter_static_shared(void* p, size_t bytes, uint64_t* block_seen) {
  current();
  Block& b = t_block;
  if (*block_seen == b.serial) return;  // another thread of this block got here first
  *block_seen = b.serial;
  std::memset(p, 0xFF, bytes);
  const uint32_t window = add_window(b, static_cast<const char*>(p), bytes);
  b.static_shared.push_back(SharedRange{static_cast<const char*>(p), bytes, window});
  b.static_shared_bytes += bytes;
  // ptxas refuses more than 48 KiB of static shared memory per block (only dynamic shared memory
  // can go beyond, by opting in).
  if (b.static_shared_bytes > 48 * 1024) die("more than 48 KiB of static shared memory in a block");
}
bool in_shared_memory(const void* p, size_t bytes) {
  const Block& b = t_block;
  const char* c = static_cast<const char*>(p);
  auto inside = [&](const char* begin, size_t size) {
    return c >= begin && static_cast<size_t>(c - begin) <= size &&
           bytes <= size - static_cast<size_t>(c - begin);
  };
  if (!b.dynamic_shared.empty() && inside(b.dynamic_shared.data(), b.dynamic_shared.size()))
    return true;
  for (const SharedRange& r : b.static_shared)
    if (inside(r.begin, r.bytes)) return true;
  return false;
}
uint32_t shared_window_address(const void* p) {
  current();
  const Block& b = t_block;
  const char* c = static_cast<const char*>(p);
  if (!b.dynamic_shared.empty() && c >= b.dynamic_shared.data() &&
      c <= b.dynamic_shared.data() + b.dynamic_shared.size()) {
    const uint32_t low = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(b.dynamic_shared.data()) % 2048);
    return low + static_cast<uint32_t>(c - b.dynamic_shared.data());
  }
  for (const SharedRange& r : b.static_shared)
    if (c >= r.begin && c <= r.begin + r.bytes) return r.window + static_cast<uint32_t>(c - r.begin);
  die("a .shared address was asked for a pointer outside the block's shared memory");
}
const char* shared_at_window(uint32_t address, size_t bytes) {
  const Block& b = t_block;
  if (!b.dynamic_shared.empty()) {
    const uint32_t low = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(b.dynamic_shared.data()) % 2048);
    if (address >= low && address - low + bytes <= b.dynamic_shared.size())
      return b.dynamic_shared.data() + (address - low);
  }
  for (const SharedRange& r : b.static_shared)
    if (address >= r.window && address - r.window + bytes <= r.bytes) return r.begin + (address - r.window);
  return nullptr;
}
void die_in_kernel(const char* what) {
  current();
  die(what);
}
int lane_id() {
  const Fiber& f = current();
  const Block& b = t_block;
  return static_cast<int>((f.tid.x + b.block_dim.x * (f.tid.y + b.block_dim.y * f.tid.z)) % 32);
}
AsyncCopies& async_copies() { return current().async; }
void sync_threads() {
  current();
  yield(State::kAtBarrier);
}
// bar.sync / bar.arrive: `count` threads (whole warps) meet at barrier `id` (1..15); the phase
// completes when the last of them arrives, releasing those that wait (bar.sync), and the barrier
// is ready for its next phase.
void named_barrier(int id, int count, bool wait) {
  Fiber& f = current();
  Block& b = t_block;
  if (id < 1 || id > 15) die("named barrier id must be 1..15 (0 is __syncthreads)");
  if (count <= 0 || count % 32 != 0 || count > static_cast<int>(b.fibers.size()))
    die("named barrier thread count must be a positive multiple of 32, at most the block");
  const size_t i = static_cast<size_t>(id);
  if (b.named_arrived[i] == 0) b.named_expected[i] = count;
  if (b.named_expected[i] != count) die("threads meet at a named barrier with different counts");
  if (++b.named_arrived[i] == count) {
    b.named_arrived[i] = 0;
    for (Fiber* g : b.fibers)
      if (g->state == State::kAtNamedBarrier && g->named_id == id) g->state = State::kRunnable;
    if (wait) return;
  }
  // bar.arrive parks the thread until the scheduler's pass over the warps ends, so the threads it
  // released see memory as it was at the arrive: a write after the arrive shows as a race.
  f.named_id = wait ? id : -1;
  yield(State::kAtNamedBarrier);
}
void trap() {
  current();
  die("__trap() in a kernel");
}
void warp_collective(WarpOp op, unsigned mask, const void* in, void* out) {
  Fiber& f = current();
  f.op = op;
  f.mask = mask;
  f.in = in;
  f.out = out;
  yield(State::kAtWarp);
}

void warpgroup_collective(WarpgroupOp op, const void* in, void* out) {
  Fiber& f = current();
  f.group_op = op;
  f.in = in;
  f.out = out;
  yield(State::kAtWarpgroup);
}
bool unfenced_shared_write(const char* p, size_t bytes) {
  for (const Fiber* f : t_block.fibers)
    for (const auto& w : f->async.unfenced)
      if (w.first < p + bytes && p < w.first + w.second) return true;
  return false;
}

// Used by runtime.cpp once the configuration is validated. Blocks are independent (no kernel here
// communicates between blocks), so they are spread over the CPU thread pool (core/parallel.h,
// sized by --threads): each pool thread runs its share of blocks one after another with its own
// fibers and its own copy of the static shared memory (poisoned again for every block).
void run_grid(dim3 grid, dim3 block, size_t dynamic_shared_bytes,
              const std::function<void()>& kernel) {
  if (t_in_kernel) die("a kernel launched another kernel (dynamic parallelism is not emulated)");
  const int64_t blocks = int64_t{grid.x} * grid.y * grid.z;
  parallel_for(blocks, [&](int64_t first, int64_t last) {
    Block& b = t_block;
    const int n = static_cast<int>(block.x * block.y * block.z);
    while (static_cast<int>(b.pool.size()) < n) {
      b.pool.push_back(std::make_unique<Fiber>());
      b.pool.back()->stack = new_stack();
    }
    b.fibers.assign(static_cast<size_t>(n), nullptr);
    for (int i = 0; i < n; ++i) {
      Fiber& f = *b.pool[i];
      b.fibers[i] = &f;
      f.tid = uint3{static_cast<unsigned>(i) % block.x, static_cast<unsigned>(i) / block.x % block.y,
                    static_cast<unsigned>(i) / (block.x * block.y)};
    }
    b.dynamic_shared.resize(dynamic_shared_bytes);  // filled per block by run_block
    b.kernel = &kernel;
    b.block_dim = block;
    b.grid_dim = grid;
    t_in_kernel = true;
    for (int64_t i = first; i < last; ++i) {
      b.block_idx = uint3{static_cast<unsigned>(i % grid.x),
                          static_cast<unsigned>(i / grid.x % grid.y),
                          static_cast<unsigned>(i / (int64_t{grid.x} * grid.y))};
      run_block(b);
    }
    t_in_kernel = false;
    b.kernel = nullptr;
  });
}

}  // namespace dice::emu
