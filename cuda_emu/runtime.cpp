// cuda_emu's runtime API: one emulated device (compute capability 9.0) whose memory is host memory.
//
// Streams execute synchronously: a copy, memset or launch runs before the call returns, on the
// calling thread, so every ordering a real stream or event would give holds trivially, and events
// record wall-clock time. Stream capture records the same operations as closures into a graph
// (kernel arguments copied at capture, as cudaGraph does), and launching an instantiated graph
// replays them; that is what lets the CUDA-graph paths of nn/cuda_plan.cpp run here. Errors follow
// the runtime's conventions: calls return them, launch-configuration errors are returned by the
// next cudaGetLastError(), and frees of pointers this runtime did not allocate are reported.
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include <cuda_runtime.h>

struct CUgraph_st {
  std::vector<std::function<void()>> ops;
};
struct CUgraphExec_st {
  std::vector<std::function<void()>> ops;
};
struct CUstream_st {
  std::unique_ptr<CUgraph_st> capture;  // the graph being recorded; null when not capturing
};
struct CUevent_st {
  std::chrono::steady_clock::time_point when{};
  bool recorded = false;
};

namespace dice::emu {
void run_grid(dim3 grid, dim3 block, size_t dynamic_shared_bytes,
              const std::function<void()>& kernel);
}

namespace {

thread_local cudaError_t t_last_error = cudaSuccess;
thread_local int t_device = 0;

std::mutex g_mutex;  // guards the allocation sets
std::set<void*> g_device_allocs, g_host_allocs;

cudaError_t fail(cudaError_t e) {
  t_last_error = e;
  return e;
}

// Runs `op` now, or appends it to the graph `stream` is capturing.
cudaError_t submit(cudaStream_t stream, std::function<void()> op) {
  if (stream != nullptr && stream->capture) {
    stream->capture->ops.push_back(std::move(op));
  } else {
    op();
  }
  return cudaSuccess;
}

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
cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
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
cudaError_t allocate(void** ptr, size_t bytes, std::set<void*>& owned) {
  if (ptr == nullptr) return fail(cudaErrorInvalidValue);
  void* p = aligned_block(bytes);
  if (p == nullptr) return fail(cudaErrorMemoryAllocation);
  std::lock_guard<std::mutex> lock(g_mutex);
  owned.insert(p);
  *ptr = p;
  return cudaSuccess;
}
cudaError_t release(void* ptr, std::set<void*>& owned) {
  if (ptr == nullptr) return cudaSuccess;
  std::lock_guard<std::mutex> lock(g_mutex);
  if (owned.erase(ptr) == 0) return fail(cudaErrorInvalidValue);  // not ours, or freed twice
  std::free(ptr);
  return cudaSuccess;
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
  return submit(stream, [=] { std::memmove(dst, src, bytes); });
}
cudaError_t cudaMemset(void* ptr, int value, size_t bytes) {
  return cudaMemsetAsync(ptr, value, bytes, nullptr);
}
cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t stream) {
  if (bytes == 0) return cudaSuccess;
  if (ptr == nullptr) return fail(cudaErrorInvalidValue);
  return submit(stream, [=] { std::memset(ptr, value, bytes); });
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) {
  return cudaStreamCreateWithFlags(stream, cudaStreamDefault);
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned) {
  return new_handle(stream);
}
cudaError_t cudaStreamDestroy(cudaStream_t stream) { return delete_handle(stream); }
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  if (stream != nullptr && stream->capture) return fail(cudaErrorStreamCaptureUnsupported);
  return cudaSuccess;
}
cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t event, unsigned) {
  if (event == nullptr) return fail(cudaErrorInvalidResourceHandle);
  return cudaSuccess;  // the event's work is complete: streams run synchronously
}

cudaError_t cudaEventCreate(cudaEvent_t* event) {
  return cudaEventCreateWithFlags(event, cudaEventDefault);
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned) { return new_handle(event); }
cudaError_t cudaEventDestroy(cudaEvent_t event) { return delete_handle(event); }
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (event == nullptr) return fail(cudaErrorInvalidResourceHandle);
  return submit(stream, [event] {
    event->when = std::chrono::steady_clock::now();
    event->recorded = true;
  });
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  if (event == nullptr) return fail(cudaErrorInvalidResourceHandle);
  return cudaSuccess;
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t stop) {
  if (ms == nullptr) return fail(cudaErrorInvalidValue);
  if (start == nullptr || stop == nullptr) return fail(cudaErrorInvalidResourceHandle);
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
  return submit(stream, [exec] {
    for (const auto& op : exec->ops) op();
  });
}
cudaError_t cudaGraphDestroy(cudaGraph_t graph) { return delete_handle(graph); }
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) { return delete_handle(exec); }

namespace dice::emu {

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
