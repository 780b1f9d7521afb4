// Persistent worker pool behind parallel_for (see parallel.h). A job is a chunked range, and the
// calling thread takes chunk 0 itself. Between jobs a worker first spins for a short while
// (kSpinMicros) watching for the next one, then sleeps on a condition variable; the caller
// likewise spins before sleeping while it waits for the workers. A network forward is a chain of
// short jobs (ResNet-50 at batch 1: ~80 of them, most under 1 ms), and waking a sleeping thread
// through the kernel costs tens of microseconds on a virtual machine each time. No spinning when
// the pool has more threads than the machine has cores (spinning would then take a core from a
// thread with work).
#include "core/parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace dice {
namespace {

thread_local bool t_in_worker = false;

constexpr int64_t kSpinMicros = 200;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Spins until done() or kSpinMicros have passed; returns done().
template <class Done>
bool spin_until(const Done& done) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 1;; ++i) {
    if (done()) return true;
    cpu_relax();
    if (i % 64 == 0 &&
        std::chrono::steady_clock::now() - start > std::chrono::microseconds(kSpinMicros))
      return done();
  }
}

class Pool {
 public:
  explicit Pool(int n)
      : size_(std::max(1, n)),
        spin_(size_ <= static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))) {
    for (int i = 1; i < size_; ++i) threads_.emplace_back([this, i] { loop(i); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_.store(true, std::memory_order_relaxed);
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  int size() const { return size_; }

  void run(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t grain) {
    int64_t chunks = std::min<int64_t>(size_, (n + grain - 1) / grain);
    if (chunks <= 1 || t_in_worker) {
      fn(0, n);
      return;
    }
    std::unique_lock<std::mutex> job_lock(job_mu_);  // one job at a time
    {
      std::lock_guard<std::mutex> lk(mu_);
      fn_ = &fn;
      n_ = n;
      chunks_ = chunks;
      pending_.store(static_cast<int>(chunks - 1), std::memory_order_relaxed);
      error_ = nullptr;
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    std::exception_ptr mine;
    t_in_worker = true;
    try {
      do_chunk(0);
    } catch (...) {
      mine = std::current_exception();
    }
    t_in_worker = false;
    auto done = [&] { return pending_.load(std::memory_order_acquire) == 0; };
    if (spin_) spin_until(done);
    std::unique_lock<std::mutex> lk(mu_);
    done_cv_.wait(lk, done);
    fn_ = nullptr;
    if (mine) std::rethrow_exception(mine);
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void do_chunk(int64_t c) {
    int64_t begin = n_ * c / chunks_, end = n_ * (c + 1) / chunks_;
    if (begin < end) (*fn_)(begin, end);
  }
  void loop(int index) {
    t_in_worker = true;
    uint64_t seen = 0;
    for (;;) {
      if (spin_)
        spin_until([&] {
          return generation_.load(std::memory_order_acquire) != seen ||
                 stop_.load(std::memory_order_relaxed);
        });
      // The job's fields are read under the lock, as the caller writes them under it.
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] {
        return stop_.load(std::memory_order_relaxed) ||
               generation_.load(std::memory_order_relaxed) != seen;
      });
      if (stop_.load(std::memory_order_relaxed)) return;
      seen = generation_.load(std::memory_order_relaxed);
      if (index >= chunks_) continue;
      lk.unlock();
      std::exception_ptr err;
      try {
        do_chunk(index);
      } catch (...) {
        err = std::current_exception();
      }
      lk.lock();
      if (err && !error_) error_ = err;
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) done_cv_.notify_one();
    }
  }

  int size_;
  bool spin_;
  std::vector<std::thread> threads_;
  std::mutex mu_, job_mu_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0, chunks_ = 0;
  std::atomic<int> pending_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stop_{false};  // written under mu_; atomic for the spinning workers
  std::exception_ptr error_;
};

std::mutex g_pool_mu;
std::unique_ptr<Pool> g_pool;
int g_requested = 0;

Pool& pool() {
  std::lock_guard<std::mutex> lk(g_pool_mu);
  if (!g_pool) {
    int n = g_requested > 0 ? g_requested : static_cast<int>(std::thread::hardware_concurrency());
    g_pool = std::make_unique<Pool>(n);
  }
  return *g_pool;
}

}  // namespace

void set_num_threads(int n) {
  std::lock_guard<std::mutex> lk(g_pool_mu);
  g_requested = n;
  g_pool.reset();
}

int num_threads() { return t_in_worker ? 1 : pool().size(); }

void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t grain) {
  if (n <= 0) return;
  pool().run(n, fn, std::max<int64_t>(1, grain));
}

}  // namespace dice
