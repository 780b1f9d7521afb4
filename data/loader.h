// BatchLoader: decodes and pre-processes a data set on its own threads, ahead of the consumer,
// and hands out batches of [count, 3, S, S] float32 images in data-set order.
//
//   dice::BatchLoader loader(*ds, 128, /*threads=*/8, /*limit=*/-1, "cifar10");
//   dice::Batch b;
//   while (loader.next(&b)) run(b.images, b.labels);   // b.start = index of its first sample
//
// Work is handed out per sample, so even the first batch is decoded by all threads; at most a few
// batches are in flight (bounded memory). A sample that fails to load ends the stream: next()
// delivers every batch before it and then throws that sample's dice::Error (its message names the
// file). With skip_bad, a sample whose load throws a dice::Error (an undecodable or missing file)
// is skipped instead: one warning line on stderr names it, its image is left as zeros, its label
// -1, and its index is listed in Batch::skipped, so the consumer drops exactly those rows and
// every other sample keeps its index, order and label. Destroying the loader early stops the
// threads and joins them.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "core/tensor.h"

namespace dice {

struct Batch {
  int64_t start = 0, count = 0;  // samples [start, start + count) of the data set
  Tensor images;                 // [count, 3, S, S]
  std::vector<int64_t> labels;   // count labels (-1 for unlabeled sets)
  std::vector<int64_t> skipped;  // data-set indices in this batch that were skipped (sorted)
};

class BatchLoader {
 public:
  // threads <= 0: one per hardware thread. limit >= 0 caps the number of samples (the first
  // `limit`). A non-empty progress_label draws a progress bar on stderr when it is a terminal.
  BatchLoader(const Dataset& ds, int64_t batch_size, int threads, int64_t limit = -1,
              std::string progress_label = "", bool skip_bad = false);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // Fills *out with the next batch (reusing its buffers); false when all were delivered.
  bool next(Batch* out);

  int64_t total() const;  // samples that will be delivered
  int64_t num_batches() const;
  int64_t skipped() const;  // samples skipped so far (skip_bad only)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dice
