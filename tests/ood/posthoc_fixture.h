// The post-hoc methods' fixture (tests/fixtures/ood/posthoc/, written by
// scripts/make_posthoc_fixtures.py): a 5-class fc layer on 12-d features, a 150-sample training
// set, and 70 test samples (40 ID-like, then 30 OOD-like), loaded as the library's types.
#pragma once
#include <string>
#include <vector>

#include "formats/npy.h"
#include "ood/method.h"
#include "test_util.h"

namespace dice::test {

struct PosthocFixture {
  FcLayer fc;
  CachedFeatures train, test;
  std::vector<double> feat_stat;
  FitInputs fit() const { return FitInputs{&fc, &train, &feat_stat}; }
};

inline std::string posthoc_path(const std::string& file) { return fixture("ood/posthoc/" + file); }

inline CachedFeatures posthoc_set(const std::string& prefix, const FcLayer& fc) {
  CachedFeatures x;
  x.name = prefix;
  const NpyArray f = read_npy(posthoc_path(prefix + ".features.npy"));
  x.count = f.shape[0];
  x.dim = f.shape[1];
  x.features = npy_to_float(f, prefix);
  for (double v : npy_to_double(read_npy(posthoc_path(prefix + ".labels.npy")), prefix))
    x.labels.push_back(static_cast<int64_t>(v));
  x.logits = fc_logits(fc, x.features.data(), x.count);
  return x;
}

inline PosthocFixture load_posthoc_fixture() {
  PosthocFixture p;
  const NpyArray w = read_npy(posthoc_path("fc_weight.npy"));
  p.fc.classes = w.shape[0];
  p.fc.dim = w.shape[1];
  p.fc.weight = npy_to_float(w, "fc_weight");
  p.fc.bias = npy_to_float(read_npy(posthoc_path("fc_bias.npy")), "fc_bias");
  p.feat_stat = npy_to_double(read_npy(posthoc_path("feat_stat.npy")), "feat_stat");
  p.train = posthoc_set("train", p.fc);
  p.test = posthoc_set("test", p.fc);
  return p;
}

}  // namespace dice::test
