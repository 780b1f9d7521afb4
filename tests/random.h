// Random test data and the output poison, for every kernel test and the kernel benchmarks (bench/
// includes it as "tests/random.h"): one generator instead of a copy per test file.
// random_floats is splitmix64 over (seed, index) rather than std::mt19937 with
// std::uniform_real_distribution: it fills the tens of millions of values of a ResNet-50 batch in
// milliseconds, and its values are the same on every standard library (the distribution's are
// not), so a failure seen on one machine reproduces on another.
// The poison is all-ones bytes, a NaN that no kernel computes and exactly what
// DeviceBuffer::poison() writes on the device: an output element that still holds it was never
// written, and one outside an output slice that does not was written where it must not be.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace dice::test {

// n floats uniform in [lo, hi); a pure function of its arguments.
inline std::vector<float> random_floats(int64_t n, uint64_t seed, float lo, float hi) {
  std::vector<float> v(static_cast<size_t>(n));
  uint64_t s = seed * 0xD1B54A32D192ED03ull;
  for (float& x : v) {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    x = lo + (hi - lo) * static_cast<float>(z >> 40) * (1.0f / 16777216.0f);
  }
  return v;
}

// n bytes, each 1 with probability `keep` (a DICE mask keeps 1 - p/100 of the weights).
inline std::vector<uint8_t> random_mask(int64_t n, uint64_t seed, double keep) {
  const std::vector<float> u = random_floats(n, seed, 0.0f, 1.0f);
  std::vector<uint8_t> m(u.size());
  for (size_t i = 0; i < u.size(); ++i) m[i] = u[i] < keep ? 1 : 0;
  return m;
}

// A seed per test case, from its name (FNV-1a), so cases do not all share one data set.
inline uint64_t seed_of(const std::string& name) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  return h;
}

constexpr uint32_t kPoisonBits = 0xFFFFFFFFu;

inline float poison_float() {
  float x;
  std::memcpy(&x, &kPoisonBits, sizeof x);
  return x;
}
// n floats of poison: the output buffer a kernel writes into.
inline std::vector<float> poisoned(int64_t n) {
  return std::vector<float>(static_cast<size_t>(n), poison_float());
}
// Whether x still holds the poison (bit for bit: a computed NaN does not count).
inline bool is_poison(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return bits == kPoisonBits;
}
// The same for int32 outputs (an argmax): all-ones is -1.
inline bool is_poison(int32_t x) { return x == -1; }

}  // namespace dice::test
