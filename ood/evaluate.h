// The evaluation runner behind `dice eval` and `dice features`: streams a data set through the
// model (decoding on a thread pool ahead of the network), keeps the penultimate features, and
// applies one or more heads (plain fc = the Energy baseline; DICE-masked fc; ReAct clip) to them.
// Features are computed once per data set and every head reuses them, so the Energy and DICE
// tables of one run cost a single pass of the network.
// A model with a pipeline (Model::pipeline_depth() >= 2, the CUDA DenseNet) is fed through
// submit()/collect(), so decoding, host-to-device copies and the forward overlap.
#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "nn/model.h"

namespace dice {

struct FeatureSet {
  std::string name;
  int64_t count = 0, dim = 0;
  std::vector<float> features;  // [count][dim]
  std::vector<int64_t> labels;  // [count], -1 where unlabeled
  std::vector<int64_t> skipped; // data-set indices dropped by skip_bad (not in features/labels)
  // Seconds the calling thread spent in each stage. On a pipelined (GPU) model the stages overlap,
  // so they need not add up to the wall time: decode = waiting for the loader's next batch,
  // upload = submit() (the copy to the device), forward = features() or collect() (the forward,
  // and its features' download).
  double decode_s = 0, upload_s = 0, forward_s = 0;
};

// Runs the model over the data set (at most `limit` samples when limit >= 0). With skip_bad,
// samples that fail to load are warned about and dropped (see BatchLoader): the rows keep the
// data-set order, minus those samples, whose indices are listed in FeatureSet::skipped.
FeatureSet extract_features(Model& model, const Dataset& data, const std::string& name,
                            int64_t batch, int loader_threads, int64_t limit, bool progress,
                            bool skip_bad = false);

struct HeadConfig {
  std::string label;              // e.g. "Energy", "DICE (p=90)"
  std::string score = "energy";   // "energy" or "msp"
  std::vector<uint8_t> mask;      // empty: plain fc
  float clip = std::numeric_limits<float>::infinity();
};

struct HeadResult {
  std::vector<float> logits;   // [count][classes]
  std::vector<double> scores;  // [count], higher = more in-distribution
  std::vector<int32_t> argmax; // [count]
};

HeadResult apply_head(const Model& model, const FeatureSet& fs, const HeadConfig& head);

// Fraction of labeled samples whose argmax equals the label; -1 if nothing is labeled.
double accuracy(const HeadResult& r, const FeatureSet& fs);

}  // namespace dice
