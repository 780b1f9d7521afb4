// The CUDA runtime pieces every GPU path uses: a stream and an event wrapper, a DeviceArena (one
// cudaMalloc per compiled plan, then bump allocation), RAII device and pinned host buffers, and
// host<->device copy helpers. Everything throws dice::Error through DICE_CUDA_CHECK.
//
// Why an arena: a model plan knows every activation size once the batch size is fixed, so it takes
// one allocation up front and hands out 256-byte-aligned slices; the steady state then makes no
// cudaMalloc/cudaFree (both synchronise the device), and CUDA graphs can capture stable pointers.
// Sizing a plan is a dry run: DeviceArena::aligned(bytes) rounds exactly as alloc() does.
//
// The file is named cuda_memory.h, not cuda_runtime.h, so that it can never shadow the toolkit's
// <cuda_runtime.h>, which nvcc force-includes into every .cu file.
// Without DICE_HAVE_CUDA this header declares nothing, so CPU-only code may include it freely.
#pragma once
#ifdef DICE_HAVE_CUDA
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "gpu/cuda_check.h"

namespace dice {

// An owned non-blocking stream (does not synchronise with the legacy default stream).
class Stream {
 public:
  Stream();
  ~Stream();
  Stream(Stream&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  Stream& operator=(Stream&& o) noexcept;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  cudaStream_t get() const { return s_; }
  operator cudaStream_t() const { return s_; }
  void synchronize() const;

 private:
  cudaStream_t s_ = nullptr;
};

// An owned event with timing enabled: record() on a stream, then elapsed_ms(start, stop).
class Event {
 public:
  Event();
  ~Event();
  Event(Event&& o) noexcept : e_(std::exchange(o.e_, nullptr)) {}
  Event& operator=(Event&& o) noexcept;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  cudaEvent_t get() const { return e_; }
  void record(cudaStream_t stream = nullptr);
  void synchronize() const;
  // Milliseconds between two recorded events; waits for `stop` to complete.
  static float elapsed_ms(const Event& start, const Event& stop);

 private:
  cudaEvent_t e_ = nullptr;
};

// One device allocation carved into aligned slices. reset() makes all of it free again (the
// caller guarantees no kernel still uses the old slices). Not thread-safe.
class DeviceArena {
 public:
  static constexpr size_t kAlignment = 256;
  static constexpr size_t aligned(size_t bytes) {
    return (bytes + kAlignment - 1) / kAlignment * kAlignment;
  }

  DeviceArena() = default;
  explicit DeviceArena(size_t capacity_bytes) { reserve(capacity_bytes); }
  ~DeviceArena();
  DeviceArena(DeviceArena&& o) noexcept;
  DeviceArena& operator=(DeviceArena&& o) noexcept;
  DeviceArena(const DeviceArena&) = delete;
  DeviceArena& operator=(const DeviceArena&) = delete;

  // (Re)allocates the backing memory; only allowed when nothing is allocated (used() == 0).
  void reserve(size_t capacity_bytes);
  // A slice of `bytes` (rounded up to kAlignment); throws dice::Error if the arena is too small.
  void* alloc_bytes(size_t bytes);
  template <typename T>
  T* alloc(int64_t count) {
    DICE_ASSERT(count >= 0);
    return static_cast<T*>(alloc_bytes(static_cast<size_t>(count) * sizeof(T)));
  }
  void reset() { used_ = 0; }

  size_t used() const { return used_; }
  size_t capacity() const { return capacity_; }
  void* base() const { return base_; }

 private:
  void* base_ = nullptr;
  size_t capacity_ = 0, used_ = 0;
};

// Untyped owning helpers behind DeviceBuffer/PinnedBuffer (keep cudaMalloc out of the templates).
void* cuda_malloc_bytes(size_t bytes);
void cuda_free_bytes(void* p) noexcept;
void* cuda_malloc_host_bytes(size_t bytes);
void cuda_free_host_bytes(void* p) noexcept;

// Asynchronous copies on `stream`; with pageable host memory they return once the source is read.
void copy_bytes_to_device(void* dst, const void* src, size_t bytes, cudaStream_t stream = nullptr);
void copy_bytes_to_host(void* dst, const void* src, size_t bytes, cudaStream_t stream = nullptr);
void copy_bytes_on_device(void* dst, const void* src, size_t bytes, cudaStream_t stream = nullptr);
// Sets every byte of [p, p + bytes) to `value` (0xFF turns float32 arrays into NaNs: tests poison
// outputs with it so that an element a kernel forgot to write can never pass).
void fill_bytes_on_device(void* p, int value, size_t bytes, cudaStream_t stream = nullptr);

template <typename T>
void copy_to_device(T* dst, const T* src, int64_t count, cudaStream_t stream = nullptr) {
  copy_bytes_to_device(dst, src, static_cast<size_t>(count) * sizeof(T), stream);
}
template <typename T>
void copy_to_host(T* dst, const T* src, int64_t count, cudaStream_t stream = nullptr) {
  copy_bytes_to_host(dst, src, static_cast<size_t>(count) * sizeof(T), stream);
}

// An owned device array of `size` elements of T (uninitialised).
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(int64_t size) : size_(size) {
    DICE_ASSERT(size >= 0);
    p_ = static_cast<T*>(cuda_malloc_bytes(bytes()));
  }
  // A device copy of a host vector (synchronous).
  explicit DeviceBuffer(const std::vector<T>& host)
      : DeviceBuffer(static_cast<int64_t>(host.size())) {
    upload(host);
  }
  ~DeviceBuffer() { cuda_free_bytes(p_); }
  DeviceBuffer(DeviceBuffer&& o) noexcept
      : p_(std::exchange(o.p_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      cuda_free_bytes(p_);
      p_ = std::exchange(o.p_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* data() { return p_; }
  const T* data() const { return p_; }
  int64_t size() const { return size_; }
  size_t bytes() const { return static_cast<size_t>(size_) * sizeof(T); }

  // Synchronous whole-buffer transfers (sizes must match).
  void upload(const std::vector<T>& host) {
    DICE_ASSERT(static_cast<int64_t>(host.size()) == size_);
    copy_to_device(p_, host.data(), size_);
    DICE_CUDA_CHECK(cudaStreamSynchronize(nullptr));
  }
  std::vector<T> download() const {
    std::vector<T> host(static_cast<size_t>(size_));
    copy_to_host(host.data(), p_, size_);
    DICE_CUDA_CHECK(cudaStreamSynchronize(nullptr));
    return host;
  }
  // Every byte 0xFF: NaN for float32 (see fill_bytes_on_device).
  void poison() {
    fill_bytes_on_device(p_, 0xFF, bytes());
    DICE_CUDA_CHECK(cudaStreamSynchronize(nullptr));
  }

 private:
  T* p_ = nullptr;
  int64_t size_ = 0;
};

// An owned page-locked host array: the staging memory that lets copies overlap with compute.
template <typename T>
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(int64_t size) : size_(size) {
    DICE_ASSERT(size >= 0);
    p_ = static_cast<T*>(cuda_malloc_host_bytes(static_cast<size_t>(size) * sizeof(T)));
  }
  ~PinnedBuffer() { cuda_free_host_bytes(p_); }
  PinnedBuffer(PinnedBuffer&& o) noexcept
      : p_(std::exchange(o.p_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept {
    if (this != &o) {
      cuda_free_host_bytes(p_);
      p_ = std::exchange(o.p_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;

  T* data() { return p_; }
  const T* data() const { return p_; }
  int64_t size() const { return size_; }
  T& operator[](int64_t i) { return p_[i]; }
  const T& operator[](int64_t i) const { return p_[i]; }

 private:
  T* p_ = nullptr;
  int64_t size_ = 0;
};

}  // namespace dice

#endif  // DICE_HAVE_CUDA
