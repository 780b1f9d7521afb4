// Synthetic noise data sets, the classic "Gaussian" and "Uniform" OOD sets.
// Pixels are drawn in [0, 1] image space (Gaussian N(0.5, 1) clipped to [0, 1], or U[0, 1)),
// as float32 without 8-bit quantization, then normalized with the run's mean/std exactly as
// torchvision's Normalize would treat such a tensor. Images are 3 x crop x crop (3x32x32 in the
// CIFAR setting).
// Determinism: image i is generated from its own counter-based stream (SplitMix64 of seed and
// i), so load(i) is thread-safe, independent of the order or thread it runs on, and the same
// spec gives the same images on every run. Gaussian values use Box-Muller in double precision.
#include <cmath>

#include "core/error.h"
#include "data/dataset.h"

namespace dice {
namespace {

uint64_t splitmix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

class SyntheticDataset final : public Dataset {
 public:
  SyntheticDataset(bool gaussian, int64_t n, uint64_t seed, const Preprocess& pp)
      : Dataset(pp.crop), gaussian_(gaussian), n_(n), seed_(seed), pp_(pp) {}

  int64_t size() const override { return n_; }
  int64_t label(int64_t) const override { return -1; }
  void load(int64_t i, float* chw) const override {
    DICE_ASSERT(i >= 0 && i < n_);
    // Decorrelate neighbouring (seed, i) pairs before using them as a stream position.
    uint64_t state = seed_ * 0xD1B54A32D192ED03ull;
    splitmix64(&state);
    state ^= static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ull;
    splitmix64(&state);
    const int64_t plane = image_size_ * image_size_;
    const double two_pi = 6.283185307179586476925286766559;
    for (int c = 0; c < 3; ++c) {
      float* out = chw + c * plane;
      for (int64_t k = 0; k < plane; ++k) {
        float v;
        if (gaussian_) {
          // One Box-Muller draw per value (the sine half is dropped to keep the stream simple).
          const double u1 =
              static_cast<double>((splitmix64(&state) >> 11) + 1) * 0x1p-53;          // (0, 1]
          const double u2 = static_cast<double>(splitmix64(&state) >> 11) * 0x1p-53;  // [0, 1)
          double x = 0.5 + std::sqrt(-2.0 * std::log(u1)) * std::cos(two_pi * u2);
          v = static_cast<float>(x < 0.0 ? 0.0 : x > 1.0 ? 1.0 : x);
        } else {
          v = static_cast<float>(splitmix64(&state) >> 40) * 0x1p-24f;  // [0, 1), exact in float
        }
        out[k] = (v - pp_.mean[c]) / pp_.std[c];
      }
    }
  }
  std::string describe() const override {
    return std::string(gaussian_ ? "gaussian noise N(0.5, 1) clipped to [0, 1]"
                                 : "uniform noise U[0, 1)") +
           " (" + std::to_string(n_) + " images, 3x" + std::to_string(image_size_) + "x" +
           std::to_string(image_size_) + ", seed " + std::to_string(seed_) + ")";
  }

 private:
  bool gaussian_;
  int64_t n_;
  uint64_t seed_;
  Preprocess pp_;
};

}  // namespace

std::unique_ptr<Dataset> make_synthetic(const std::string& kind, int64_t n, uint64_t seed,
                                        const Preprocess& pp) {
  if (kind != "gaussian" && kind != "uniform")
    throw_error("synthetic data set '", kind, "': unknown kind; use gaussian:N or uniform:N");
  if (n <= 0) throw_error(kind, ":", n, ": the image count must be positive");
  if (pp.crop <= 0 || pp.crop > 4096)
    throw_error(kind, ": crop size ", pp.crop, " is out of range");
  return std::make_unique<SyntheticDataset>(kind == "gaussian", n, seed, pp);
}

}  // namespace dice
