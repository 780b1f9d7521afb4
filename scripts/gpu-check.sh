#!/usr/bin/env bash
# gpu-check.sh: the checks that need a GPU, from a prebuilt build folder, in under 8 minutes.
#
#   scripts/gpu-check.sh [BUILD_DIR] [--prepare]      (BUILD_DIR defaults to ./build)
#
# Device time is scarce, so the script never rebuilds binaries that exist; it builds only the two
# programs it runs, and only when they are missing. Steps, each under its own timeout:
#   1. the CUDA tests of test_kernels (every *Cuda* / arena / buffer test; the CPU tests are CI's);
#   2. bench_kernels_cuda (conv2d_cuda vs cuDNN, TFLOP/s), JSON kept in the log folder;
#   3. compute-sanitizer memcheck and 4. racecheck on a small test filter.
# A summary table comes last; the exit status is non-zero if any step failed or timed out.
#
# Libraries: Debian ships Google Benchmark only as libbenchmark.so.1debian, which the GPU machine
# lacks. Run with --prepare on the build machine (or let any run do it where the library exists)
# to copy it and libcudart into BUILD_DIR/lib, which is put first on LD_LIBRARY_PATH. cuDNN (for
# the vendor baseline in the benchmark) is looked up in the CUDA toolkit, the system and the
# Python `nvidia-cudnn` wheel that PyTorch installs; without it the benchmark step fails alone.
# Logs go to $DICE_GPU_CHECK_LOGS (default BUILD_DIR/gpu-check).
set -u

BUILD=${1:-build}
MODE=${2:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOGS=${DICE_GPU_CHECK_LOGS:-$BUILD/gpu-check}
TEST_BIN=$BUILD/tests/test_kernels
BENCH_BIN=$BUILD/bench/bench_kernels_cuda
# Small shapes that still cover every kernel: all conv tile paths (TM = 1, 2, 4; kernel 1, 3,
# generic), both pools, the head, the runtime helpers.
SMALL_FILTER='Shapes/Conv2dCuda.MatchesNaive/odd_*:Shapes/Conv2dCuda.MatchesNaive/densenet_b3_3x3_last:Shapes/PoolCuda.*:Shapes/GlobalAvgPoolCuda.*:Shapes/HeadCuda.MatchesCpu/odd_*:HeadCudaTies.*:HeadCudaOutputs.*:DeviceArena.*:DeviceBuffer.*'
CUDA_FILTER='*Cuda*:DeviceArena*:DeviceBuffer*'

# ---- libraries next to the binaries ----
mkdir -p "$BUILD/lib"
for lib in /usr/lib/x86_64-linux-gnu/libbenchmark.so.1debian /usr/local/cuda/lib64/libcudart.so.13; do
  if [ -e "$lib" ] && [ ! -e "$BUILD/lib/$(basename "$lib")" ]; then
    cp -L "$lib" "$BUILD/lib/" && echo "gpu-check: copied $(basename "$lib") into $BUILD/lib"
  fi
done
if [ "$MODE" = "--prepare" ]; then
  for b in "$TEST_BIN" "$BENCH_BIN"; do
    [ -x "$b" ] || echo "gpu-check: missing $b: cmake --build $BUILD --target $(basename "$b")"
  done
  exit 0
fi

LIBPATH="$(cd "$BUILD/lib" && pwd)"
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/lib/x86_64-linux-gnu; do
  [ -d "$d" ] && LIBPATH="$LIBPATH:$d"
done
if command -v python3 >/dev/null 2>&1; then
  # The pip wheels (nvidia-cudnn-cu13, nvidia-cublas) keep their libraries under site-packages.
  for d in $(python3 -c 'import importlib, os
for m in ("nvidia.cudnn", "nvidia.cublas", "nvidia.cuda_runtime"):
    try:
        mod = importlib.import_module(m)
        for p in mod.__path__: print(os.path.join(p, "lib"))
    except Exception: pass' 2>/dev/null); do
    [ -d "$d" ] && LIBPATH="$LIBPATH:$d"
  done
fi
export LD_LIBRARY_PATH="$LIBPATH${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# ---- binaries: build only what is missing ----
missing=()
for b in "$TEST_BIN" "$BENCH_BIN"; do [ -x "$b" ] || missing+=("$(basename "$b")"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "gpu-check: ${missing[*]} missing in $BUILD: building them (this costs device time)"
  [ -f "$BUILD/CMakeCache.txt" ] || cmake -S "$ROOT" -B "$BUILD" -DCMAKE_CUDA_ARCHITECTURES=90 >/dev/null
  cmake --build "$BUILD" --target "${missing[@]}" -j"$(nproc)" || echo "gpu-check: build failed"
fi

mkdir -p "$LOGS"
SANITIZER=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
STEPS=() STATUS=() SECS=() NOTES=()
failed=0

# run_step NAME SECONDS LOGFILE CMD...: runs CMD under a timeout, tees its output to the log.
run_step() {
  local name=$1 limit=$2 log=$3
  shift 3
  local t0=$SECONDS rc
  echo
  echo "==== $name (timeout ${limit}s) ===="
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$LOGS/$log"
  rc=${PIPESTATUS[0]}
  local st=PASS
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then st=TIMEOUT; elif [ "$rc" -ne 0 ]; then st="FAIL($rc)"; fi
  [ "$st" = PASS ] || failed=1
  STEPS+=("$name") STATUS+=("$st") SECS+=($((SECONDS - t0))) NOTES+=("$LOGS/$log")
}

skip_step() {
  STEPS+=("$1") STATUS+=("SKIP") SECS+=(0) NOTES+=("$2")
  failed=1
}

echo "gpu-check: build=$BUILD logs=$LOGS"
if command -v nvidia-smi >/dev/null 2>&1 &&
   timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; then
  :
else
  # The tests would all skip and the benchmarks all error: still run them (it is cheap), but the
  # check as a whole cannot pass.
  echo "gpu-check: no GPU visible (nvidia-smi failed); the results below prove nothing"
  skip_step "gpu" "no GPU visible"
fi

if [ -x "$TEST_BIN" ]; then
  run_step "cuda tests" 120 test_kernels.log "$TEST_BIN" --gtest_filter="$CUDA_FILTER" \
    --gtest_brief=1 --gtest_output="xml:$LOGS/test_kernels.xml"
else
  skip_step "cuda tests" "missing $TEST_BIN"
fi

if [ -x "$BENCH_BIN" ]; then
  if ldd "$BENCH_BIN" | grep -q "not found"; then
    ldd "$BENCH_BIN" | grep "not found"
    skip_step "benchmarks" "libraries not found (see above)"
  else
    run_step "benchmarks" 170 bench_kernels_cuda.log "$BENCH_BIN" --benchmark_min_time=0.05 \
      --benchmark_counters_tabular=true --benchmark_out="$LOGS/bench_kernels_cuda.json" \
      --benchmark_out_format=json
    # A benchmark that failed its CPU check (or could not run) reports an error, not a failure.
    if [ "${STATUS[-1]}" = PASS ] && grep -q "ERROR OCCURRED" "$LOGS/bench_kernels_cuda.log"; then
      STATUS[-1]="ERRORS"
      failed=1
    fi
  fi
else
  skip_step "benchmarks" "missing $BENCH_BIN"
fi

if [ -x "$TEST_BIN" ] && [ -x "$SANITIZER" ]; then
  run_step "memcheck" 90 memcheck.log "$SANITIZER" --tool memcheck --leak-check full \
    --error-exitcode 86 "$TEST_BIN" --gtest_filter="$SMALL_FILTER" --gtest_brief=1
  run_step "racecheck" 90 racecheck.log "$SANITIZER" --tool racecheck --racecheck-report all \
    --error-exitcode 86 "$TEST_BIN" --gtest_filter="$SMALL_FILTER" --gtest_brief=1
else
  skip_step "memcheck" "no compute-sanitizer or test binary"
  skip_step "racecheck" "no compute-sanitizer or test binary"
fi

# ---- summaries: benchmark throughput, then the steps ----
if [ -s "$LOGS/bench_kernels_cuda.json" ] && command -v python3 >/dev/null 2>&1; then
  echo
  python3 - "$LOGS/bench_kernels_cuda.json" <<'EOF'
import json, sys
rows = {}
for b in json.load(open(sys.argv[1])).get("benchmarks", []):
    parts = b["name"].split("/")
    if len(parts) < 3:
        continue
    impl, shape, batch = parts[0], parts[1], parts[2].split(":")[-1]
    rows.setdefault((shape, int(batch)), {})[impl] = (
        "ERR" if b.get("error_occurred") else "%.2f" % b.get("TFLOP/s", 0.0))
impls = ["conv2d_cuda_fused", "conv2d_cuda_plain", "conv2d_cudnn"]
print("TFLOP/s (fp32)       %-24s %6s %8s %8s %8s" % ("shape", "batch", "fused", "plain", "cudnn"))
for (shape, batch), r in sorted(rows.items(), key=lambda kv: kv[0][1]):  # stable: table order
    print("                     %-24s %6d %8s %8s %8s" % (shape, batch, *(r.get(i, "-") for i in impls)))
EOF
fi

echo
echo "==== gpu-check summary ===="
printf '%-12s %-10s %6s  %s\n' step status secs log
for i in "${!STEPS[@]}"; do
  printf '%-12s %-10s %6s  %s\n' "${STEPS[$i]}" "${STATUS[$i]}" "${SECS[$i]}" "${NOTES[$i]}"
done
exit $failed
