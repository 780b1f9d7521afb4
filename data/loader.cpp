// BatchLoader (see loader.h).
//
// Scheme: a ring of `window` batch slots; batch b lives in slot b % window. Workers claim samples
// in increasing index order from one counter (under the mutex) and may only claim from batches
// [delivered, delivered + window), so a slot is reused only after the consumer took its batch.
// The first claim of a batch sizes its slot. A worker writes its sample straight into the slot's
// tensor (disjoint ranges, outside the lock) and then counts it done; the consumer waits for the
// slot of the next batch in order to be complete and swaps its buffers out (the consumer's old
// buffers go back into the slot, so steady state allocates nothing).
// Errors: the failing sample with the lowest index wins; workers stop claiming. Since claims are
// in index order, every sample before it was already claimed and completes, so the consumer gets
// every batch before the failing one, then the error (after in-flight samples settle, which makes
// the reported sample deterministic).
// skip_bad: a dice::Error from a sample is a warning instead; the sample counts as done with a
// zero image, and its index goes into the slot's `skipped` list (sorted when delivered).
#include "data/loader.h"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "data/progress.h"

namespace dice {

struct BatchLoader::Impl {
  struct Slot {
    int64_t batch = -1, done = 0;
    Tensor images;
    std::vector<int64_t> labels, skipped;
  };

  const Dataset& ds;
  int64_t bs, total, nbatches, window, per_sample;
  std::vector<Slot> slots;
  std::vector<std::thread> workers;
  std::mutex m;
  std::condition_variable cv_work, cv_ready;
  int64_t next_sample = 0, delivered = 0, inflight = 0;
  int64_t err_index = INT64_MAX;
  std::exception_ptr err;
  bool stop = false, failed = false, skip_bad = false;
  int64_t skipped_total = 0;
  std::unique_ptr<Progress> progress;

  Impl(const Dataset& d, int64_t batch_size, int threads, int64_t limit, std::string label,
       bool skip)
      : ds(d), bs(batch_size), skip_bad(skip) {
    if (batch_size <= 0) throw_error("batch size ", batch_size, " must be positive");
    const int64_t size = ds.size();
    total = limit < 0 ? size : std::min(limit, size);
    nbatches = (total + bs - 1) / bs;
    const int64_t s = ds.image_size();
    per_sample = 3 * s * s;
    if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    const int64_t nthreads = std::min<int64_t>(threads, total);
    // Enough batches in flight to keep every thread busy across a batch boundary.
    window = std::max<int64_t>(2, (2 * nthreads + bs - 1) / bs + 1);
    slots.resize(static_cast<size_t>(window));
    if (!label.empty()) progress = std::make_unique<Progress>(std::move(label), total);
    try {
      for (int64_t t = 0; t < nthreads; ++t) workers.emplace_back([this] { work(); });
    } catch (...) {  // e.g. no more threads: stop the ones started before rethrowing
      shutdown();
      throw;
    }
  }

  ~Impl() { shutdown(); }

  void shutdown() {
    {
      std::lock_guard<std::mutex> lk(m);
      stop = true;
    }
    cv_work.notify_all();
    for (std::thread& t : workers)
      if (t.joinable()) t.join();
  }

  int64_t batch_count(int64_t b) const { return std::min(bs, total - b * bs); }

  void work() {
    std::unique_lock<std::mutex> lk(m);
    for (;;) {
      cv_work.wait(lk, [&] {
        return stop || err || next_sample >= total || next_sample / bs < delivered + window;
      });
      if (stop || err || next_sample >= total) return;
      const int64_t i = next_sample++;
      const int64_t b = i / bs;
      Slot& slot = slots[static_cast<size_t>(b % window)];
      // The first claim of batch b sizes its slot, free since batch b - window was taken.
      if (slot.batch != b) {
        const int64_t n = batch_count(b);
        slot.batch = b;
        slot.done = 0;
        slot.images.shape = {n, 3, ds.image_size(), ds.image_size()};
        slot.images.data.resize(static_cast<size_t>(n * per_sample));
        slot.labels.assign(static_cast<size_t>(n), -1);
        slot.skipped.clear();
      }
      float* dst = slot.images.ptr() + (i - b * bs) * per_sample;
      ++inflight;
      lk.unlock();
      std::exception_ptr e;
      int64_t label = -1;
      bool skip = false;
      try {
        label = ds.label(i);
        ds.load(i, dst);
      } catch (const Error& ex) {
        if (skip_bad) {
          skip = true;
          label = -1;
          std::memset(dst, 0, static_cast<size_t>(per_sample) * sizeof(float));
          // "\r\033[K" first when a progress bar may be on the line (it redraws below).
          std::fprintf(stderr, "%swarning: skipped (--skip-bad): %s\n",
                       progress && progress->enabled() ? "\r\033[K" : "", ex.what());
        } else {
          e = std::current_exception();
        }
      } catch (const std::exception& ex) {
        e = std::make_exception_ptr(
            Error(ds.describe() + ": sample " + std::to_string(i) + ": " + ex.what()));
      } catch (...) {
        e = std::make_exception_ptr(
            Error(ds.describe() + ": sample " + std::to_string(i) + ": unknown error"));
      }
      lk.lock();
      --inflight;
      if (e) {
        if (i < err_index) {
          err_index = i;
          err = e;
        }
        cv_ready.notify_all();
        cv_work.notify_all();
        continue;  // the wait predicate sees err and returns
      }
      slot.labels[static_cast<size_t>(i - b * bs)] = label;
      if (skip) {
        slot.skipped.push_back(i);
        ++skipped_total;
      }
      if (++slot.done == static_cast<int64_t>(slot.labels.size()))
        cv_ready.notify_all();
      else if (err && inflight == 0)
        cv_ready.notify_all();
    }
  }

  bool next(Batch* out) {
    std::unique_lock<std::mutex> lk(m);
    if (failed) std::rethrow_exception(err);
    if (delivered >= nbatches) {
      if (progress) progress->finish();
      return false;
    }
    const int64_t b = delivered;
    Slot& slot = slots[static_cast<size_t>(b % window)];
    const int64_t end = b * bs + batch_count(b);
    auto complete = [&] { return slot.batch == b && slot.done == batch_count(b); };
    cv_ready.wait(lk, [&] { return complete() || (err && err_index < end && inflight == 0); });
    if (!complete()) {
      failed = true;
      std::rethrow_exception(err);
    }
    std::swap(out->images, slot.images);
    std::swap(out->labels, slot.labels);
    std::swap(out->skipped, slot.skipped);
    std::sort(out->skipped.begin(), out->skipped.end());
    slot.skipped.clear();
    out->start = b * bs;
    out->count = batch_count(b);
    slot.batch = -1;
    ++delivered;
    const bool last = delivered == nbatches;
    lk.unlock();
    cv_work.notify_all();
    if (progress) {
      progress->update(out->start + out->count);
      if (last) progress->finish();
    }
    return true;
  }
};

BatchLoader::BatchLoader(const Dataset& ds, int64_t batch_size, int threads, int64_t limit,
                         std::string progress_label, bool skip_bad)
    : impl_(std::make_unique<Impl>(ds, batch_size, threads, limit, std::move(progress_label),
                                   skip_bad)) {}

BatchLoader::~BatchLoader() = default;

bool BatchLoader::next(Batch* out) { return impl_->next(out); }
int64_t BatchLoader::total() const { return impl_->total; }
int64_t BatchLoader::num_batches() const { return impl_->nbatches; }
int64_t BatchLoader::skipped() const {
  std::lock_guard<std::mutex> lk(impl_->m);
  return impl_->skipped_total;
}

}  // namespace dice
