// cuda_emu's runtime API: one emulated device (compute capability 9.0) whose memory is host memory.
//
// Streams are adversarially lazy: work submitted to a stream is queued and runs only when the host
// must see it (cudaStreamSynchronize, cudaEventSynchronize/ElapsedTime, cudaDeviceSynchronize,
// cudaFree, a blocking stream's implicit sync with the legacy stream) or when another stream's
// cudaStreamWaitEvent needs it, and then as little as that needs, in reverse creation order for
// a whole-device sync. So a missing event wait or synchronisation, which a real GPU may forgive by
// luck of timing, gives stale data here every time. Work on the legacy (null) stream runs at once
// after the blocking streams' work; non-blocking streams do not wait for it, as on a GPU. Events
// record wall-clock time when their point in the stream runs.
// Stream capture records the same operations as closures into a graph (kernel arguments copied at
// capture, as cudaGraph does), and launching an instantiated graph queues their replay; that is
// what lets the CUDA-graph paths of nn/cuda_plan.cpp run here.
// Memory is checked as compute-sanitizer would: copies must match their direction (a device side
// inside one cudaMalloc allocation, a host side outside all of them), and every pointer argument
// of a kernel must be null or point into a device allocation (a host pointer works on the CPU but
// not on a GPU). Errors follow the runtime's conventions: calls return them, launch errors are
// returned by the next cudaGetLastError(), and frees of pointers this runtime did not allocate are
// reported; a misuse is also named on stderr, since the runtime's codes alone do not say which.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include <cuda_runtime.h>

#include "cuda_emu/internal.h"

struct CUgraph_st {
  std::vector<std::function<void()>> ops;
};
struct CUgraphExec_st {
  std::vector<std::function<void()>> ops;
};
struct CUstream_st {
  std::unique_ptr<CUgraph_st> capture;  // the graph being recorded; null when not capturing
  std::deque<std::function<void()>> pending;  // submitted, not yet run, oldest first
  uint64_t submitted = 0, done = 0;           // operations submitted / run so far
  bool blocking = true;                       // synchronises with the legacy stream
};
struct CUevent_st {
  std::chrono::steady_clock::time_point when{};
  bool recorded = false;
  cudaStream_t stream = nullptr;  // where it was last recorded (null: the legacy stream)
  uint64_t seq = 0;               // ... as that stream's seq-th operation
};

namespace {

thread_local cudaError_t t_last_error = cudaSuccess;
thread_local int t_device = 0;

std::mutex g_mutex;  // guards the allocation maps
std::map<const char*, size_t> g_device_allocs, g_host_allocs;  // base -> bytes

// Guards the streams' queues. Recursive: running one stream's work may run another's (an event
// wait), and a replayed graph submits nothing but runs its operations inline.
std::recursive_mutex g_streams_mutex;
std::vector<cudaStream_t> g_streams;  // every live stream, in creation order

cudaError_t fail(cudaError_t e) {
  t_last_error = e;
  return e;
}

// Runs `stream`'s queued operations until `seq` of them have run.
void run_until(cudaStream_t stream, uint64_t seq) {
  std::lock_guard<std::recursive_mutex> lock(g_streams_mutex);
  while (stream->done < seq && !stream->pending.empty()) {
    std::function<void()> op = std::move(stream->pending.front());
    stream->pending.pop_front();
    ++stream->done;
    op();
  }
}
void run_all(cudaStream_t stream) { run_until(stream, stream->submitted); }

// Everything queued on every stream (blocking ones only, for the legacy stream's implicit
// synchronisation), latest-created stream first.
void run_streams(bool blocking_only) {
  std::lock_guard<std::recursive_mutex> lock(g_streams_mutex);
  for (auto it = g_streams.rbegin(); it != g_streams.rend(); ++it)
    if (!blocking_only || (*it)->blocking) run_all(*it);
}

// Queues `op` on `stream`, appends it to the graph `stream` is capturing, or, on the legacy
// stream, runs it now after the blocking streams' work.
cudaError_t submit(cudaStream_t stream, std::function<void()> op) {
  std::lock_guard<std::recursive_mutex> lock(g_streams_mutex);
  if (stream != nullptr && stream->capture) {
    stream->capture->ops.push_back(std::move(op));
  } else if (stream != nullptr) {
    stream->pending.push_back(std::move(op));
    ++stream->submitted;
  } else {
    run_streams(/*blocking_only=*/true);
    op();
  }
  return cudaSuccess;
}

// The allocation of `owned` that holds [p, p + bytes), or null.
const std::pair<const char* const, size_t>* find_alloc(const std::map<const char*, size_t>& owned,
                                                        const void* p, size_t bytes) {
  const char* c = static_cast<const char*>(p);
  auto it = owned.upper_bound(c);
  if (it == owned.begin()) return nullptr;
  --it;
  const size_t off = static_cast<size_t>(c - it->first);
  return off <= it->second && bytes <= it->second - off ? &*it : nullptr;
}

}  // namespace

bool dice::emu::in_device_memory(const void* p, size_t bytes) {
  std::lock_guard<std::mutex> lock(g_mutex);
  return find_alloc(g_device_allocs, p, bytes) != nullptr;
}

namespace {

using dice::emu::in_device_memory;
bool touches_device_memory(const void* p) { return in_device_memory(p, 1); }

// Handles (streams, events, graphs) are plain heap objects.
template <class T>
cudaError_t new_handle(T** out) {
  if (out == nullptr) return fail(cudaErrorInvalidValue);
  *out = new T;
  return cudaSuccess;
}
template <class T>
cudaError_t delete_handle(T* handle) {
  if (handle == nullptr) return fail(cudaErrorInvalidResourceHandle);
  delete handle;
  return cudaSuccess;
}

// Exactly `bytes` (256-byte aligned, as cudaMalloc's are): not rounded up, so that under ASan a
// kernel reading even one element past the size it asked for is reported, as compute-sanitizer
// does, instead of landing in slack that a rounded allocation would have.
void* aligned_block(size_t bytes) {
  void* p = nullptr;
  if (posix_memalign(&p, 256, bytes == 0 ? 1 : bytes) != 0) return nullptr;
  return p;
}

}  // namespace

cudaError_t cudaGetDeviceCount(int* count) {
  if (count == nullptr) return fail(cudaErrorInvalidValue);
  *count = 1;
  return cudaSuccess;
}
// The emulator stands in for the toolkit it was written against (CUDA 13.0).
cudaError_t cudaDriverGetVersion(int* version) {
  if (version == nullptr) return fail(cudaErrorInvalidValue);
  *version = 13000;
  return cudaSuccess;
}
cudaError_t cudaRuntimeGetVersion(int* version) { return cudaDriverGetVersion(version); }
cudaError_t cudaGetDevice(int* device) {
  if (device == nullptr) return fail(cudaErrorInvalidValue);
  *device = t_device;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
  if (device != 0) return fail(cudaErrorInvalidDevice);
  t_device = device;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (prop == nullptr) return fail(cudaErrorInvalidValue);
  if (device != 0) return fail(cudaErrorInvalidDevice);
  std::memset(prop, 0, sizeof *prop);
  std::strncpy(prop->name, "cuda_emu (CPU emulation, not a GPU)", sizeof prop->name - 1);
  prop->totalGlobalMem = size_t{16} << 30;
  prop->sharedMemPerBlock = 48 * 1024;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = 1024;
  prop->maxThreadsDim[0] = prop->maxThreadsDim[1] = 1024;
  prop->maxThreadsDim[2] = 64;
  prop->maxGridSize[0] = 0x7FFFFFFF;
  prop->maxGridSize[1] = prop->maxGridSize[2] = 65535;
  prop->major = 9;
  prop->minor = 0;
  prop->multiProcessorCount = 1;
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (value == nullptr) return fail(cudaErrorInvalidValue);
  if (device != 0) return fail(cudaErrorInvalidDevice);
  switch (attr) {
    case cudaDevAttrComputeCapabilityMajor: *value = 9; return cudaSuccess;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; return cudaSuccess;
    case cudaDevAttrMultiProcessorCount: *value = 1; return cudaSuccess;
  }
  return fail(cudaErrorInvalidValue);
}
cudaError_t cudaGetLastError() {
  const cudaError_t e = t_last_error;
  t_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return t_last_error; }

const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotSupported: return "cudaErrorNotSupported";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorStreamCaptureWrongThread: return "cudaErrorStreamCaptureWrongThread";
  }
  return "cudaErrorUnknown";
}
const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInsufficientDriver: return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotSupported: return "operation not supported";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    case cudaErrorStreamCaptureWrongThread: return "operation not permitted on an event last recorded in a capturing stream";
  }
  return "unknown error";
}

namespace {
cudaError_t allocate(void** ptr, size_t bytes, std::map<const char*, size_t>& owned) {
  if (ptr == nullptr) return fail(cudaErrorInvalidValue);
  void* p = aligned_block(bytes);
  if (p == nullptr) return fail(cudaErrorMemoryAllocation);
  std::lock_guard<std::mutex> lock(g_mutex);
  owned[static_cast<const char*>(p)] = bytes;
  *ptr = p;
  return cudaSuccess;
}
// Frees synchronise the device first, as cudaFree and cudaFreeHost do: work still queued may use
// the memory.
cudaError_t release(void* ptr, std::map<const char*, size_t>& owned) {
  if (ptr == nullptr) return cudaSuccess;
  run_streams(/*blocking_only=*/false);
  std::lock_guard<std::mutex> lock(g_mutex);
  if (owned.erase(static_cast<const char*>(ptr)) == 0) return fail(cudaErrorInvalidValue);  // not ours, or freed twice
  std::free(ptr);
  return cudaSuccess;
}

// Whether a copy's two sides are where its kind says (cudaMemcpyDefault: anywhere).
bool direction_ok(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  const bool dst_dev = in_device_memory(dst, bytes), src_dev = in_device_memory(src, bytes);
  const bool dst_touch = touches_device_memory(dst), src_touch = touches_device_memory(src);
  switch (kind) {
    case cudaMemcpyHostToDevice: return dst_dev && !src_touch;
    case cudaMemcpyDeviceToHost: return src_dev && !dst_touch;
    case cudaMemcpyDeviceToDevice: return dst_dev && src_dev;
    case cudaMemcpyHostToHost: return !dst_touch && !src_touch;
    default: return (dst_dev || !dst_touch) && (src_dev || !src_touch);
  }
}
}  // namespace

cudaError_t cudaMalloc(void** ptr, size_t bytes) { return allocate(ptr, bytes, g_device_allocs); }
cudaError_t cudaFree(void* ptr) { return release(ptr, g_device_allocs); }
cudaError_t cudaMallocHost(void** ptr, size_t bytes) { return allocate(ptr, bytes, g_host_allocs); }
cudaError_t cudaFreeHost(void* ptr) { return release(ptr, g_host_allocs); }

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  return cudaMemcpyAsync(dst, src, bytes, kind, nullptr);
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream) {
  if (bytes == 0) return cudaSuccess;
  if (dst == nullptr || src == nullptr || static_cast<int>(kind) < 0 || kind > cudaMemcpyDefault)
    return fail(cudaErrorInvalidValue);
  if (!direction_ok(dst, src, bytes, kind)) {
    std::fprintf(stderr, "cuda_emu: cudaMemcpy of %zu bytes from %p to %p does not match its kind %d "
                 "(or runs past an allocation)\n", bytes, src, dst, static_cast<int>(kind));
    return fail(cudaErrorInvalidValue);
  }
  return submit(stream, [=] { std::memmove(dst, src, bytes); });
}
cudaError_t cudaMemset(void* ptr, int value, size_t bytes) {
  return cudaMemsetAsync(ptr, value, bytes, nullptr);
}
cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t stream) {
  if (bytes == 0) return cudaSuccess;
  if (ptr == nullptr) return fail(cudaErrorInvalidValue);
  if (!in_device_memory(ptr, bytes)) {
    std::fprintf(stderr, "cuda_emu: cudaMemset of %zu bytes at %p is not inside one device allocation\n",
                 bytes, ptr);
    return fail(cudaErrorInvalidValue);
  }
  return submit(stream, [=] { std::memset(ptr, value, bytes); });
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) {
  return cudaStreamCreateWithFlags(stream, cudaStreamDefault);
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags) {
  const cudaError_t e = new_handle(stream);
  if (e != cudaSuccess) return e;
  (*stream)->blocking = (flags & cudaStreamNonBlocking) == 0;
  std::lock_guard<std::recursive_mutex> lock(g_streams_mutex);
  g_streams.push_back(*stream);
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  if (stream == nullptr) return fail(cudaErrorInvalidResourceHandle);
  std::lock_guard<std::recursive_mutex> lock(g_streams_mutex);
  run_all(stream);  // queued work still completes, as on a GPU
  for (auto it = g_streams.begin(); it != g_streams.end(); ++it)
    if (*it == stream) {
      g_streams.erase(it);
      break;
    }
  return delete_handle(stream);
}
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  if (stream != nullptr && stream->capture) return fail(cudaErrorStreamCaptureUnsupported);
  if (stream == nullptr) run_streams(/*blocking_only=*/true);
  else run_all(stream);
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() {
  run_streams(/*blocking_only=*/false);
  return cudaSuccess;
}
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned) {
  if (event == nullptr) return fail(cudaErrorInvalidResourceHandle);
  std::lock_guard<std::recursive_mutex> lock(g_streams_mutex);
  cudaStream_t from = event->stream;
  const uint64_t seq = event->seq;
  if (from == nullptr || from == stream || from->done >= seq) return cudaSuccess;  // nothing to wait for
  // The waiting stream's later work runs only after the event's point has run on its stream.
  return submit(stream, [from, seq] { run_until(from, seq); });
}

cudaError_t cudaEventCreate(cudaEvent_t* event) {
  return cudaEventCreateWithFlags(event, cudaEventDefault);
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned) { return new_handle(event); }
cudaError_t cudaEventDestroy(cudaEvent_t event) { return delete_handle(event); }
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (event == nullptr) return fail(cudaErrorInvalidResourceHandle);
  std::lock_guard<std::recursive_mutex> lock(g_streams_mutex);
  if (stream == nullptr || !stream->capture) {
    event->stream = stream;
    event->seq = stream ? stream->submitted + 1 : 0;
  }
  return submit(stream, [event] {
    event->when = std::chrono::steady_clock::now();
    event->recorded = true;
  });
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  if (event == nullptr) return fail(cudaErrorInvalidResourceHandle);
  if (event->stream != nullptr) run_until(event->stream, event->seq);
  return cudaSuccess;
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t stop) {
  if (ms == nullptr) return fail(cudaErrorInvalidValue);
  if (start == nullptr || stop == nullptr) return fail(cudaErrorInvalidResourceHandle);
  // Like the runtime: an event whose point has not run yet is "not ready" (here: invalid).
  if ((start->stream && start->stream->done < start->seq) || (stop->stream && stop->stream->done < stop->seq))
    return fail(cudaErrorInvalidResourceHandle);
  if (!start->recorded || !stop->recorded) return fail(cudaErrorInvalidResourceHandle);
  *ms = std::chrono::duration<float, std::milli>(stop->when - start->when).count();
  return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode) {
  if (stream == nullptr) return fail(cudaErrorStreamCaptureUnsupported);  // the legacy stream
  if (stream->capture) return fail(cudaErrorInvalidValue);
  stream->capture = std::make_unique<CUgraph_st>();
  return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
  if (stream == nullptr || !stream->capture || graph == nullptr)
    return fail(cudaErrorInvalidValue);
  *graph = stream->capture.release();
  return cudaSuccess;
}
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  if (exec == nullptr || graph == nullptr) return fail(cudaErrorInvalidValue);
  *exec = new CUgraphExec_st{graph->ops};
  return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  if (exec == nullptr) return fail(cudaErrorInvalidResourceHandle);
  return submit(stream, [ops = exec->ops] {  // a copy: the exec may be destroyed before it runs
    for (const auto& op : ops) op();
  });
}
cudaError_t cudaGraphDestroy(cudaGraph_t graph) { return delete_handle(graph); }
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) { return delete_handle(exec); }

namespace dice::emu {

bool check_kernel_pointer(const void* p, int index) {
  if (p == nullptr || touches_device_memory(p)) return true;
  // One past the end of an allocation is a valid (empty) slice.
  if (touches_device_memory(static_cast<const char*>(p) - 1)) return true;
  std::fprintf(stderr, "cuda_emu: kernel argument %d (%p) is not device memory: a GPU cannot read "
               "host memory through it\n", index, p);
  fail(cudaErrorInvalidValue);
  return false;
}

void launch(dim3 grid, dim3 block, size_t dynamic_shared_bytes, cudaStream_t stream,
            std::function<void()> kernel) {
  const uint64_t threads = uint64_t{block.x} * block.y * block.z;
  if (threads == 0 || threads > 1024 || block.z > 64 || grid.x == 0 || grid.y == 0 ||
      grid.z == 0 || grid.y > 65535 || grid.z > 65535 || dynamic_shared_bytes > 48 * 1024) {
    fail(cudaErrorInvalidConfiguration);
    return;
  }
  submit(stream, [=, kernel = std::move(kernel)] {
    run_grid(grid, block, dynamic_shared_bytes, kernel);
  });
}

}  // namespace dice::emu
