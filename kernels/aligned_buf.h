// AlignedBuf: a growable 64-byte-aligned scratch buffer, kept per thread by the CPU conv paths
// (conv2d_cpu.cpp, conv2d_winograd_cpu.cpp) so a call allocates only when it needs more than the
// last one did. Contents are not preserved when it grows. Internal to kernels/.
#pragma once
#include <cstdint>
#include <cstdlib>

#include "core/error.h"

namespace dice {

template <typename T>
class AlignedBuf {
 public:
  AlignedBuf() = default;
  AlignedBuf(const AlignedBuf&) = delete;
  AlignedBuf& operator=(const AlignedBuf&) = delete;
  ~AlignedBuf() { std::free(p_); }
  T* get(int64_t n) {
    if (n > cap_) {
      std::free(p_);
      const int64_t bytes = (n * static_cast<int64_t>(sizeof(T)) + 63) / 64 * 64;
      p_ = static_cast<T*>(std::aligned_alloc(64, static_cast<size_t>(bytes)));
      DICE_ASSERT(p_ != nullptr);
      cap_ = n;
    }
    return p_;
  }

 private:
  T* p_ = nullptr;
  int64_t cap_ = 0;
};

}  // namespace dice
