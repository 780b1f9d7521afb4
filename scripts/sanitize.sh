#!/usr/bin/env bash
# The whole GoogleTest suite under AddressSanitizer + UndefinedBehaviorSanitizer (+ LeakSanitizer)
# in its own build folder, build-asan: clang-14, DICE_SANITIZE=ON and DICE_FUZZ=ON, no benchmarks,
# and the CUDA code built against the CPU emulator (DICE_CUDA_EMU=ON), so that ASan also checks
# every kernel's memory accesses, as compute-sanitizer does on a GPU (the slowest emulated tests
# are left to scripts/emulate.sh; see SLOW below). The same folder builds the libFuzzer targets, so
# scripts/fuzz.sh reuses it instead of compiling everything a second time. Any report fails the
# test that triggered it: UBSan halts on the first error (-fno-sanitize-recover=undefined), ASan
# and LSan always do. Installs clang-14 and its sanitizer runtimes when missing.
# Usage: scripts/sanitize.sh [ctest args...]   Env: ASAN_BUILD (folder), JOBS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${ASAN_BUILD:-build-asan}"
JOBS="${JOBS:-2}"
start=$(date +%s)
scripts/need-packages.sh cmake make clang-14 libclang-rt-14-dev libgtest-dev libstb-dev zlib1g-dev
if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
  CC=clang-14 CXX=clang++-14 cmake -S . -B "$BUILD" -DDICE_SANITIZE=ON -DDICE_FUZZ=ON \
    -DDICE_CUDA_EMU=ON -DDICE_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$BUILD" -j"$JOBS"
built=$(date +%s)
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
cd "$BUILD"
status=0
# The emulated whole-network and ResNet-size tensor-core tests take tens of minutes under ASan;
# scripts/emulate.sh runs them without it. The kernels' own shapes (DenseNet's, pools, head, odd
# tensor-core sizes) stay in, so ASan checks every kernel's memory accesses. The ResNet-size CPU
# conv shapes run here on the best ISA only (their scalar and AVX2 rows took ~210 s of CPU under
# ASan; scripts/test.sh runs them on every ISA, and the odd and DenseNet shapes, with the tails
# that overruns hide in, still run here on every ISA), except the two big odd batch shapes
# (odd_batch_3x3p1_k4140_5x5 and odd_batch_1x1s2_k2100_13x13, batch mode's K blocks and tails and
# Winograd's channel blocks: 15-22 s of CPU per row under ASan), which run on the best ISA only
# (a fresh-clone CI on a 2-core Xeon took 1855 s with their scalar and AVX2 rows, ~82 s of CPU;
# the other odd shapes cover those ISAs' tails under ASan, and scripts/test.sh runs every row
# without it). The bf16 rows
# (conv2d_cpu's bf16 mode, two naive references each: ~250 s of CPU under ASan in all) leave out
# the ResNet sizes and the two odd batch shapes (batch mode's, which bf16 does not use); their odd
# and DenseNet shapes, pair tails and channel slices included, stay. The emulated tensor-core rows
# run once per memory-access pattern: tf32 and bf16 stay, fp16 (bf16's 16-bit path with another
# conversion) and 3xtf32 (tf32's loads and stores, three mma per step) leave (~88 + ~33 s of the
# run's wall time); scripts/emulate.sh runs all four without ASan.
SLOW='Conv2dTc3xTf32\.|Conv2dTc\.MatchesNaive/[^ ]*_fp16 |DenseNetCuda\.|ResNetCuda\.|CliCuda\.|Conv2d(Tc|Cuda)\.MatchesNaive/(conv1|l[1-4])_|Conv2dNhwcCuda\.MatchesHostReference/(conv1|l[1-4])_|Conv2dCpu\.MatchesNaive/(conv1|l[1-4])_[^ ]*_(scalar|avx2|bf16_avx512) |Conv2dCpu\.MatchesNaive/odd_batch_[^ ]*_(scalar|avx2) |Conv2dCpu\.MatchesNaive/odd_batch_[^ ]*_bf16_avx512 '
ctest --output-on-failure -j"$JOBS" --timeout 900 -E "$SLOW" "$@" || status=$?
end=$(date +%s)
echo "sanitize.sh: build $((built - start)) s, tests $((end - built)) s"
exit "$status"
