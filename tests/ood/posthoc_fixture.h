// The post-hoc methods' fixture (tests/fixtures/ood/posthoc/, written by
// scripts/make_posthoc_fixtures.py): a 5-class fc layer on 12-d features, a 150-sample training
// set, and 70 test samples (40 ID-like, then 30 OOD-like), loaded as the library's types.
#pragma once
#include <algorithm>
#include <random>
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

// Random queries, bank and bias in [-1, 1) for the neighbour-search tests.
struct SearchCase {
  int64_t nq, nb, dim;
  std::vector<float> q, b, bias;
  SearchCase(int64_t nq_, int64_t nb_, int64_t dim_, uint64_t seed)
      : nq(nq_), nb(nb_), dim(dim_), q(static_cast<size_t>(nq * dim)),
        b(static_cast<size_t>(nb * dim)), bias(static_cast<size_t>(nb)) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> u(-1, 1);
    for (auto* v : {&q, &b, &bias})
      for (float& x : *v) x = u(rng);
  }
};

// Per query, the same set of k neighbours (the order within a query's k is free).
inline void expect_same_neighbours(const std::vector<int32_t>& got, const std::vector<int32_t>& want,
                                   int64_t nq, int64_t k, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (int64_t i = 0; i < nq; ++i) {
    std::vector<int32_t> g(got.begin() + i * k, got.begin() + (i + 1) * k);
    std::vector<int32_t> w(want.begin() + i * k, want.begin() + (i + 1) * k);
    std::sort(g.begin(), g.end());
    std::sort(w.begin(), w.end());
    EXPECT_EQ(g, w) << what << ", query " << i;
  }
}

}  // namespace dice::test
