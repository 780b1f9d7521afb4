// What the network tests share: the fixture input formula of the torch fixture scripts, running a
// model's features and its fc head, and one check of a model against a torch fixture's features
// and logits. One copy here instead of one per test file.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "formats/npy.h"
#include "kernels/head.h"
#include "nn/model.h"
#include "test_util.h"

namespace dice::test {

// x[i] = float32(((i * 2654435761) % 2001) / 1000.0 - 1.0) for i < floats: the input of the
// ResNet and WideResNet fixtures (scripts/make_resnet_fixtures.py, make_wrn_fixtures.py), which
// both sides compute instead of storing.
inline std::vector<float> formula_input(int64_t floats) {
  std::vector<float> x(static_cast<size_t>(floats));
  for (int64_t i = 0; i < floats; ++i) {
    const uint64_t r = (static_cast<uint64_t>(i) * 2654435761ull) % 2001ull;
    x[static_cast<size_t>(i)] = static_cast<float>(static_cast<double>(r) / 1000.0 - 1.0);
  }
  return x;
}

// model.features() of `batch` images into a NaN-filled vector (an unwritten feature shows).
inline std::vector<float> run_features(Model& m, const std::vector<float>& x, int64_t batch) {
  std::vector<float> f(static_cast<size_t>(batch * m.feature_dim()), NAN);
  m.features(x.data(), batch, f.data());
  return f;
}

// The plain fc head (kernels/head.h's CPU spec) on `batch` feature rows of `m`.
inline std::vector<float> run_logits(const Model& m, const std::vector<float>& feats, int64_t batch) {
  std::vector<float> z(static_cast<size_t>(batch * m.num_classes()), NAN);
  HeadParams hp;
  hp.batch = batch, hp.in_features = m.feature_dim(), hp.classes = m.num_classes();
  HeadOutputs out;
  out.logits = z.data();
  head_cpu(hp, feats.data(), m.fc_weight().ptr(), m.fc_bias().ptr(), nullptr, out);
  return z;
}

inline bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Features and logits of `m` on x against <fixture_prefix>.features.npy / .logits.npy, within
// `feature_tol` and `logit_tol` normalized error (STYLE.md).
inline void expect_matches_torch(Model& m, const std::vector<float>& x, int64_t batch,
                                 const std::string& fixture_prefix, double feature_tol,
                                 double logit_tol) {
  const std::vector<float> feats = run_features(m, x, batch);
  const NpyArray want_f = read_npy(fixture_prefix + ".features.npy");
  ASSERT_EQ(want_f.shape, (std::vector<int64_t>{batch, m.feature_dim()}));
  const std::vector<float> wf = npy_to_float(want_f, "features");
  EXPECT_LT(normalized_error(feats.data(), wf.data(), batch * m.feature_dim(), feature_tol, "features"),
            feature_tol);
  const std::vector<float> z = run_logits(m, feats, batch);
  const NpyArray want_l = read_npy(fixture_prefix + ".logits.npy");
  ASSERT_EQ(want_l.shape, (std::vector<int64_t>{batch, m.num_classes()}));
  const std::vector<float> wl = npy_to_float(want_l, "logits");
  EXPECT_LT(normalized_error(z.data(), wl.data(), batch * m.num_classes(), logit_tol, "logits"), logit_tol);
}

}  // namespace dice::test
