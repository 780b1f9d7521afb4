#!/usr/bin/env bash
# The GPU tests without a GPU: builds the CUDA backend as plain C++ against cuda_emu/ (the CPU
# emulator of the CUDA runtime and device; see cuda_emu/include/cuda_runtime.h) in build-emu, then
# runs every CUDA test there: each kernel against its CPU op, both networks against the CPU path,
# graphs, the pipeline, and the emulator's own tests. The kernel tests then run a second time with
# the threads of each block resumed last to first (DICE_EMU_ORDER=reverse): a kernel that reads
# shared memory without the barrier it needs gives different results and fails there.
# It checks correctness only; speed needs a real GPU (scripts/gpu-check.sh). About 5 minutes of
# tests on 2 cores. Usage: scripts/emulate.sh [ctest args...]   Env: EMU_BUILD, JOBS.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${EMU_BUILD:-build-emu}"
JOBS="${JOBS:-$(nproc)}"
start=$(date +%s)
scripts/need-packages.sh cmake g++ make libgtest-dev libstb-dev zlib1g-dev
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DDICE_CUDA_EMU=ON >/dev/null
cmake --build "$BUILD" -j"$JOBS" --target test_kernels test_nn test_cli test_cuda_emu
built=$(date +%s)
cd "$BUILD"
CUDA_TESTS='Cuda|Conv2dTc|DeviceArena|DeviceBuffer'
status=0
ctest --output-on-failure -j"$JOBS" --timeout 900 -R "$CUDA_TESTS" "$@" || status=$?
# The reverse pass leaves out the whole networks and the CLI's network run (its kernels are the
# ones tested here; ~21 s of CPU), and the ResNet-size rows of the two wgmma mainloops (minutes of
# emulation; their odd-shape rows, which every planted race fails, stay).
DICE_EMU_ORDER=reverse ctest --output-on-failure -j"$JOBS" --timeout 900 -R "$CUDA_TESTS" \
  -E 'DenseNetCuda|ResNetCuda|CliCuda|Conv2dNhwcCuda[.]MatchesHostReference/(conv1|l[1-4])_.*wgmma' "$@" || status=$?
end=$(date +%s)
echo "emulate.sh: build $((built - start)) s, tests $((end - built)) s"
exit "$status"
