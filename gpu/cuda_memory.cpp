// Streams, events, the device arena and the raw allocation/copy helpers (see cuda_memory.h).
// Compiled in every build; empty without CUDA. Destructors never throw: a failing cudaFree during
// unwinding is reported on stderr and otherwise ignored.
#include "gpu/cuda_memory.h"

#ifdef DICE_HAVE_CUDA
#include <cstdio>

namespace dice {

namespace {
void report_in_destructor(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    std::fprintf(stderr, "dice: %s failed in a destructor: %s\n", what, cudaGetErrorString(err));
}
}  // namespace

// ---- Stream / Event ----

Stream::Stream() { DICE_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
Stream::~Stream() {
  if (s_) report_in_destructor(cudaStreamDestroy(s_), "cudaStreamDestroy");
}
Stream& Stream::operator=(Stream&& o) noexcept {
  if (this != &o) {
    if (s_) report_in_destructor(cudaStreamDestroy(s_), "cudaStreamDestroy");
    s_ = std::exchange(o.s_, nullptr);
  }
  return *this;
}
void Stream::synchronize() const { DICE_CUDA_CHECK(cudaStreamSynchronize(s_)); }

Event::Event() { DICE_CUDA_CHECK(cudaEventCreate(&e_)); }
Event::~Event() {
  if (e_) report_in_destructor(cudaEventDestroy(e_), "cudaEventDestroy");
}
Event& Event::operator=(Event&& o) noexcept {
  if (this != &o) {
    if (e_) report_in_destructor(cudaEventDestroy(e_), "cudaEventDestroy");
    e_ = std::exchange(o.e_, nullptr);
  }
  return *this;
}
void Event::record(cudaStream_t stream) { DICE_CUDA_CHECK(cudaEventRecord(e_, stream)); }
void Event::synchronize() const { DICE_CUDA_CHECK(cudaEventSynchronize(e_)); }
float Event::elapsed_ms(const Event& start, const Event& stop) {
  stop.synchronize();
  float ms = 0;
  DICE_CUDA_CHECK(cudaEventElapsedTime(&ms, start.e_, stop.e_));
  return ms;
}

// ---- DeviceArena ----

DeviceArena::~DeviceArena() { cuda_free_bytes(base_); }
DeviceArena::DeviceArena(DeviceArena&& o) noexcept
    : base_(std::exchange(o.base_, nullptr)),
      capacity_(std::exchange(o.capacity_, 0)),
      used_(std::exchange(o.used_, 0)) {}
DeviceArena& DeviceArena::operator=(DeviceArena&& o) noexcept {
  if (this != &o) {
    cuda_free_bytes(base_);
    base_ = std::exchange(o.base_, nullptr);
    capacity_ = std::exchange(o.capacity_, 0);
    used_ = std::exchange(o.used_, 0);
  }
  return *this;
}

void DeviceArena::reserve(size_t capacity_bytes) {
  DICE_ASSERT(used_ == 0);
  cuda_free_bytes(base_);
  base_ = nullptr;
  capacity_ = 0;
  base_ = cuda_malloc_bytes(aligned(capacity_bytes));
  capacity_ = aligned(capacity_bytes);
}

void* DeviceArena::alloc_bytes(size_t bytes) {
  const size_t need = aligned(bytes);
  if (need > capacity_ - used_)
    throw_error("DeviceArena: out of memory: asked for ", need, " bytes with ", capacity_ - used_,
                " of ", capacity_, " left; the plan that sized this arena undercounted");
  void* p = static_cast<char*>(base_) + used_;
  used_ += need;
  return p;
}

// ---- raw allocation and copies ----

void* cuda_malloc_bytes(size_t bytes) {
  if (bytes == 0) return nullptr;
  void* p = nullptr;
  DICE_CUDA_CHECK(cudaMalloc(&p, bytes));
  return p;
}
void cuda_free_bytes(void* p) noexcept {
  if (p) report_in_destructor(cudaFree(p), "cudaFree");
}
void* cuda_malloc_host_bytes(size_t bytes) {
  if (bytes == 0) return nullptr;
  void* p = nullptr;
  DICE_CUDA_CHECK(cudaMallocHost(&p, bytes));
  return p;
}
void cuda_free_host_bytes(void* p) noexcept {
  if (p) report_in_destructor(cudaFreeHost(p), "cudaFreeHost");
}

void copy_bytes_to_device(void* dst, const void* src, size_t bytes, cudaStream_t stream) {
  if (bytes) DICE_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream));
}
void copy_bytes_to_host(void* dst, const void* src, size_t bytes, cudaStream_t stream) {
  if (bytes) DICE_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream));
}
void copy_bytes_on_device(void* dst, const void* src, size_t bytes, cudaStream_t stream) {
  if (bytes) DICE_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream));
}
void fill_bytes_on_device(void* p, int value, size_t bytes, cudaStream_t stream) {
  if (bytes) DICE_CUDA_CHECK(cudaMemsetAsync(p, value, bytes, stream));
}

}  // namespace dice

#endif  // DICE_HAVE_CUDA
