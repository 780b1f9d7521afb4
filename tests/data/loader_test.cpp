// BatchLoader: order and labels whatever the thread timing, limit, error propagation (the first
// failing sample, after every batch before it), early destruction, buffer reuse; and the
// progress line's text.
#include "data/loader.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "core/error.h"
#include "data/dataset.h"
#include "data/progress.h"
#include "data_fixtures.h"

namespace dice {
namespace {

// Sample i is filled with the value i; label 10 * i. Optional jitter reorders completions;
// fail_at throws a dice::Error (or a std::runtime_error) for that sample.
class FakeDataset : public Dataset {
 public:
  FakeDataset(int64_t n, int64_t image_size = 4) : Dataset(image_size), n_(n) {}
  int64_t size() const override { return n_; }
  int64_t label(int64_t i) const override { return 10 * i; }
  void load(int64_t i, float* chw) const override {
    ++loads;
    if (jitter_us > 0)
      std::this_thread::sleep_for(std::chrono::microseconds((i * 7919) % jitter_us));
    if (i == fail_at) {
      if (std_error) throw std::runtime_error("boom");
      throw_error("/data/sample_", i, ".png: cannot decode image");
    }
    for (int64_t k = 0; k < 3 * image_size() * image_size(); ++k) chw[k] = static_cast<float>(i);
  }
  std::string describe() const override { return "fake (" + std::to_string(n_) + " images)"; }

  int64_t n_;
  int jitter_us = 0;
  int64_t fail_at = -1;
  bool std_error = false;
  mutable std::atomic<int64_t> loads{0};
};

void check_batch(const Batch& b, int64_t start, int64_t count, int64_t s) {
  ASSERT_EQ(b.start, start);
  ASSERT_EQ(b.count, count);
  ASSERT_EQ(b.images.shape, (std::vector<int64_t>{count, 3, s, s}));
  ASSERT_EQ(b.labels.size(), static_cast<size_t>(count));
  for (int64_t j = 0; j < count; ++j) {
    EXPECT_EQ(b.labels[j], 10 * (start + j));
    for (int64_t k = 0; k < 3 * s * s; ++k)
      ASSERT_EQ(b.images.data[j * 3 * s * s + k], static_cast<float>(start + j))
          << "sample " << start + j;
  }
}

TEST(BatchLoader, DeliversInOrderWhateverTheTiming) {
  for (int threads : {1, 3, 8, 64}) {
    for (int64_t bs : {1, 7, 50, 64}) {
      SCOPED_TRACE("threads " + std::to_string(threads) + " batch " + std::to_string(bs));
      FakeDataset ds(50);
      ds.jitter_us = 300;
      BatchLoader loader(ds, bs, threads);
      EXPECT_EQ(loader.total(), 50);
      EXPECT_EQ(loader.num_batches(), (50 + bs - 1) / bs);
      Batch b;
      int64_t start = 0;
      while (loader.next(&b)) {
        check_batch(b, start, std::min<int64_t>(bs, 50 - start), 4);
        start += b.count;
      }
      EXPECT_EQ(start, 50);
      EXPECT_FALSE(loader.next(&b));  // stays finished
      EXPECT_EQ(ds.loads.load(), 50);
    }
  }
}

TEST(BatchLoader, Limit) {
  FakeDataset ds(30);
  {
    BatchLoader loader(ds, 7, 4, 20);
    EXPECT_EQ(loader.total(), 20);
    Batch b;
    std::vector<int64_t> counts;
    while (loader.next(&b)) counts.push_back(b.count);
    EXPECT_EQ(counts, (std::vector<int64_t>{7, 7, 6}));
  }
  BatchLoader all(ds, 8, 2, 1000);
  EXPECT_EQ(all.total(), 30);
  BatchLoader none(ds, 8, 2, 0);
  Batch b;
  EXPECT_FALSE(none.next(&b));
  FakeDataset empty(0);
  BatchLoader e(empty, 4, 4);
  EXPECT_FALSE(e.next(&b));
  EXPECT_THROW(BatchLoader(ds, 0, 2), Error);
}

TEST(BatchLoader, ErrorAfterEveryEarlierBatch) {
  for (bool std_error : {false, true}) {
    for (int threads : {1, 4, 16}) {
      SCOPED_TRACE("threads " + std::to_string(threads));
      // Far more samples than the loader may run ahead, so "stopped early" does not depend on
      // how fast 16 threads are (with 60 samples they could finish before the error surfaced).
      FakeDataset ds(600);
      ds.fail_at = 23;
      ds.std_error = std_error;
      ds.jitter_us = 200;
      BatchLoader loader(ds, 5, threads);
      Batch b;
      for (int64_t start = 0; start < 20; start += 5) {
        ASSERT_TRUE(loader.next(&b));
        check_batch(b, start, 5, 4);
      }
      try {
        loader.next(&b);
        FAIL() << "no error";
      } catch (const Error& e) {
        if (std_error) {
          EXPECT_TRUE(test::contains(e.what(), "sample 23")) << e.what();
          EXPECT_TRUE(test::contains(e.what(), "boom")) << e.what();
        } else {
          EXPECT_TRUE(test::contains(e.what(), "/data/sample_23.png")) << e.what();
        }
      }
      EXPECT_THROW(loader.next(&b), Error);  // stays failed
      EXPECT_LT(ds.loads.load(), 600);       // stopped early
    }
  }
}

TEST(BatchLoader, FirstFailingSampleWins) {
  // Two failures in one batch: the lower index is reported, however the threads interleave.
  class TwoFailures : public FakeDataset {
   public:
    TwoFailures() : FakeDataset(40) {}
    void load(int64_t i, float* chw) const override {
      if (i == 13) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (i == 13 || i == 14) throw_error("/data/", i, ".png: bad");
      FakeDataset::load(i, chw);
    }
  };
  TwoFailures ds;
  BatchLoader loader(ds, 10, 8);
  Batch b;
  ASSERT_TRUE(loader.next(&b));
  try {
    loader.next(&b);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(test::contains(e.what(), "/data/13.png")) << e.what();
  }
}

TEST(BatchLoader, SkipBadKeepsOrderAndLabels) {
  // Two unreadable samples, one of them in the last (partial) batch: every batch still arrives,
  // the bad samples are listed, zeroed and unlabeled, every other sample is where it belongs.
  class Broken : public FakeDataset {
   public:
    Broken() : FakeDataset(23) {}
    void load(int64_t i, float* chw) const override {
      if (i == 7 || i == 21) throw_error("/data/", i, ".JPEG: cannot decode image");
      FakeDataset::load(i, chw);
    }
  };
  for (int threads : {1, 5}) {
    SCOPED_TRACE("threads " + std::to_string(threads));
    Broken ds;
    ds.jitter_us = 100;
    BatchLoader loader(ds, 5, threads, -1, "", /*skip_bad=*/true);
    Batch b;
    std::vector<int64_t> skipped;
    int64_t seen = 0;
    while (loader.next(&b)) {
      ASSERT_EQ(b.start, seen);
      for (int64_t j = 0; j < b.count; ++j) {
        const int64_t i = b.start + j;
        const bool bad = i == 7 || i == 21;
        EXPECT_EQ(b.labels[j], bad ? -1 : 10 * i);
        EXPECT_EQ(b.images.data[j * 48], bad ? 0.0f : static_cast<float>(i));
      }
      skipped.insert(skipped.end(), b.skipped.begin(), b.skipped.end());
      seen += b.count;
    }
    EXPECT_EQ(seen, 23);
    EXPECT_EQ(skipped, (std::vector<int64_t>{7, 21}));
    EXPECT_EQ(loader.skipped(), 2);
  }
  // Only dice::Error is skipped: anything else is a bug and still ends the stream.
  FakeDataset other(10);
  other.fail_at = 6;
  other.std_error = true;
  BatchLoader loader(other, 4, 2, -1, "", true);
  Batch b;
  ASSERT_TRUE(loader.next(&b));
  EXPECT_THROW(loader.next(&b), Error);
}

TEST(BatchLoader, EarlyDestructionJoins) {
  FakeDataset ds(100000);
  ds.jitter_us = 500;
  auto t0 = std::chrono::steady_clock::now();
  {
    BatchLoader loader(ds, 16, 4);
    Batch b;
    ASSERT_TRUE(loader.next(&b));
    check_batch(b, 0, 16, 4);
  }  // destroyed with most of the set undecoded
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(secs, 5.0);
  EXPECT_LT(ds.loads.load(), 1000);  // bounded read-ahead
  { BatchLoader never_read(ds, 16, 4); }
}

TEST(BatchLoader, RealDatasetMatchesDirectLoads) {
  auto ds = open_dataset(test::data_fixture("cifar_py/p4/test"), Preprocess::cifar());
  BatchLoader loader(*ds, 4, 3, -1, "cifar (test)");  // stderr is not a terminal under ctest
  Batch b;
  int64_t seen = 0;
  std::vector<float> one(3 * 32 * 32);
  while (loader.next(&b)) {
    for (int64_t j = 0; j < b.count; ++j) {
      ds->load(b.start + j, one.data());
      EXPECT_EQ(std::memcmp(one.data(), b.images.data.data() + j * 3072, 3072 * 4), 0);
      EXPECT_EQ(b.labels[j], ds->label(b.start + j));
    }
    seen += b.count;
  }
  EXPECT_EQ(seen, 6);
}

TEST(Progress, FormatsCountsRateAndEta) {
  std::string s = Progress::format("cifar10", 2500, 10000, 5.0, 20);
  EXPECT_TRUE(test::contains(s, "cifar10")) << s;
  EXPECT_TRUE(test::contains(s, "2500/10000")) << s;
  EXPECT_TRUE(test::contains(s, "25.0%")) << s;
  EXPECT_TRUE(test::contains(s, "500.0/s")) << s;
  EXPECT_TRUE(test::contains(s, "ETA 0:15")) << s;
  EXPECT_TRUE(test::contains(s, "[=====>")) << s;
  std::string done = Progress::format("x", 10, 10, 2.0, 10);
  EXPECT_TRUE(test::contains(done, "100.0%")) << done;
  EXPECT_TRUE(test::contains(done, "[==========]")) << done;
  EXPECT_FALSE(test::contains(done, "ETA")) << done;
  EXPECT_TRUE(test::contains(Progress::format("x", 1, 100000, 1.0), "ETA 27:46:39"));
  Progress quiet("x", 10, 0);
  EXPECT_FALSE(quiet.enabled());
  quiet.update(5);
  quiet.finish();
}

}  // namespace
}  // namespace dice
