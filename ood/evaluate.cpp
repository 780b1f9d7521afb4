// Feature extraction and heads (see evaluate.h).
#include "ood/evaluate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <new>
#include <utility>

#include "core/echo.h"
#include "core/error.h"
#include "data/loader.h"
#include "kernels/head.h"

namespace dice {
namespace {

// Adds the seconds f() takes to *acc and returns what f returns.
template <typename F>
auto timed(double* acc, F&& f) {
  struct Add {
    double* acc;
    std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
    ~Add() { *acc += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }
  } add{acc};
  return f();
}

// Non-finite features (from NaN/Inf in a tensor: input, say) would only show as NaN scores after
// the whole pass; fail at the first batch that has them, naming the set and the sample.
void check_finite_rows(const FeatureSet& fs, int64_t start, int64_t count) {
  const float* p = fs.features.data() + start * fs.dim;
  for (int64_t i = 0; i < count * fs.dim; ++i)
    if (!std::isfinite(p[i]))
      throw_error(echo(fs.name), ": sample ", start + i / fs.dim, " gives non-finite features (",
                  p[i], "); check that input for NaN or Inf values");
}

}  // namespace

FeatureSet extract_features(Model& model, const Dataset& data, const std::string& name,
                            int64_t batch, int loader_threads, int64_t limit, bool progress,
                            bool skip_bad) {
  if (data.image_size() != model.input_size())
    throw_error(name, ": images are pre-processed to ", data.image_size(), "x", data.image_size(),
                " but ", model.name(), " expects ", model.input_size(), "x", model.input_size());
  FeatureSet fs;
  fs.name = name;
  fs.dim = model.feature_dim();
  int64_t n = limit >= 0 && limit < data.size() ? limit : data.size();
  try {
    fs.features.resize(static_cast<size_t>(n * fs.dim));
    fs.labels.resize(static_cast<size_t>(n));
  } catch (const std::bad_alloc&) {
    throw_error(echo(name), ": out of memory for the features of ", n, " samples (", n, " x ", fs.dim,
                " floats); pass --limit, or raise the memory limit");
  }
  BatchLoader loader(data, batch, loader_threads, n, progress ? name : std::string(), skip_bad);
  Batch b;
  const int depth = model.pipeline_depth();
  if (depth < 2) {
    while (timed(&fs.decode_s, [&] { return loader.next(&b); })) {
      timed(&fs.forward_s, [&] {
        model.features(b.images.ptr(), b.count, fs.features.data() + b.start * fs.dim);
      });
      check_finite_rows(fs, b.start, b.count);
      for (int64_t i = 0; i < b.count; ++i) fs.labels[static_cast<size_t>(b.start + i)] = b.labels[i];
      fs.skipped.insert(fs.skipped.end(), b.skipped.begin(), b.skipped.end());
      fs.count = b.start + b.count;
    }
  } else {
    // Pipelined (a GPU model): keep `depth` batches in flight, so the device computes batch n
    // while the loader hands over batch n+1 and its upload starts. Batches come back in order.
    std::deque<std::pair<int64_t, int64_t>> in_flight;  // (start, count), oldest first
    auto collect_oldest = [&] {
      const int64_t start = in_flight.front().first, count = in_flight.front().second;
      in_flight.pop_front();
      timed(&fs.forward_s, [&] { model.collect(fs.features.data() + start * fs.dim); });
      check_finite_rows(fs, start, count);
      fs.count = start + count;
    };
    try {
      while (timed(&fs.decode_s, [&] { return loader.next(&b); })) {
        if (static_cast<int>(in_flight.size()) == depth) collect_oldest();
        // submit() copies the images: b may be reused at once
        timed(&fs.upload_s, [&] { model.submit(b.images.ptr(), b.count); });
        in_flight.emplace_back(b.start, b.count);
        for (int64_t i = 0; i < b.count; ++i) fs.labels[static_cast<size_t>(b.start + i)] = b.labels[i];
        fs.skipped.insert(fs.skipped.end(), b.skipped.begin(), b.skipped.end());
      }
      while (!in_flight.empty()) collect_oldest();
    } catch (...) {
      // Leave the model with nothing outstanding, so it stays usable after, say, a corrupt image;
      // the first error is the one reported.
      while (!in_flight.empty()) {
        try {
          collect_oldest();
        } catch (...) {
        }
      }
      throw;
    }
  }
  DICE_ASSERT(fs.count == n);
  if (!fs.skipped.empty()) {  // drop the skipped rows, keeping the order of the others
    int64_t out = 0;
    size_t k = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (k < fs.skipped.size() && fs.skipped[k] == i) {
        ++k;
        continue;
      }
      if (out != i) {
        std::copy_n(fs.features.begin() + i * fs.dim, fs.dim, fs.features.begin() + out * fs.dim);
        fs.labels[static_cast<size_t>(out)] = fs.labels[static_cast<size_t>(i)];
      }
      ++out;
    }
    fs.count = out;
    fs.features.resize(static_cast<size_t>(out * fs.dim));
    fs.labels.resize(static_cast<size_t>(out));
  }
  return fs;
}

HeadResult apply_head(const Model& model, const FeatureSet& fs, const HeadConfig& head) {
  const int64_t classes = model.num_classes();
  HeadParams p;
  p.batch = fs.count, p.in_features = fs.dim, p.classes = classes, p.clip = head.clip;
  HeadResult r;
  r.logits.resize(static_cast<size_t>(fs.count * classes));
  std::vector<float> energy(static_cast<size_t>(fs.count)), msp(static_cast<size_t>(fs.count));
  r.argmax.resize(static_cast<size_t>(fs.count));
  HeadOutputs out;
  out.logits = r.logits.data(), out.energy = energy.data(), out.msp = msp.data();
  out.argmax = r.argmax.data();
  if (!head.mask.empty()) DICE_ASSERT(static_cast<int64_t>(head.mask.size()) == classes * fs.dim);
  head_cpu(p, fs.features.data(), model.fc_weight().ptr(), model.fc_bias().ptr(),
           head.mask.empty() ? nullptr : head.mask.data(), out);
  const std::vector<float>& s = head.score == "msp" ? msp : energy;
  r.scores.assign(s.begin(), s.end());
  return r;
}

double accuracy(const HeadResult& r, const FeatureSet& fs) {
  int64_t labeled = 0, correct = 0;
  for (int64_t i = 0; i < fs.count; ++i) {
    if (fs.labels[static_cast<size_t>(i)] < 0) continue;
    ++labeled;
    correct += r.argmax[static_cast<size_t>(i)] == fs.labels[static_cast<size_t>(i)];
  }
  return labeled ? static_cast<double>(correct) / static_cast<double>(labeled) : -1.0;
}

}  // namespace dice
