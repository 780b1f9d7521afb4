// Tensor: a host float32 array with a shape, row-major and contiguous. It is the currency between
// weights/, nn/ and the tools; kernels themselves take raw pointers plus a params struct, so that
// CPU and CUDA versions of an op share one signature.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace dice {

struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;

  Tensor() = default;
  explicit Tensor(std::vector<int64_t> s) : shape(std::move(s)), data(count(shape), 0.0f) {}

  int64_t numel() const { return static_cast<int64_t>(data.size()); }
  int64_t dim() const { return static_cast<int64_t>(shape.size()); }
  int64_t size(int64_t i) const { return shape.at(static_cast<size_t>(i < 0 ? i + dim() : i)); }
  float* ptr() { return data.data(); }
  const float* ptr() const { return data.data(); }
  std::string shape_str() const;

  static int64_t count(const std::vector<int64_t>& s) {
    int64_t n = 1;
    for (int64_t d : s) n *= d;
    return n;
  }
};

}  // namespace dice
