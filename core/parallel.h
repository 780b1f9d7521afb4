// A small persistent thread pool and parallel_for, shared by the CPU kernels.
// The pool is created once (size from set_num_threads, default = hardware threads) so kernels pay
// no thread start-up per call. parallel_for splits [0, n) into contiguous chunks, one per worker;
// it is not re-entrant: a parallel_for issued from inside a worker runs serially on that worker.
#pragma once
#include <cstdint>
#include <functional>

namespace dice {

void set_num_threads(int n);  // n <= 0: hardware concurrency
// The pool's size; 1 on a thread running a parallel_for chunk, where a nested parallel_for runs
// serially, so that code called there (a kernel inside a per-image worker) plans for one thread.
int num_threads();

// Calls fn(begin, end) on disjoint chunks covering [0, n), in parallel. grain = smallest chunk.
void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t grain = 1);

}  // namespace dice
