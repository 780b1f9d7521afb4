#!/usr/bin/env bash
# Installs what the build needs from Debian 12 packages, only where missing, then configures and
# builds into ${BUILD_DIR:-build}. CUDA is used when nvcc is present (DICE_CUDA=AUTO) and is
# optional: everything runs on the CPU without it.
#   scripts/setup.sh            # deps + Release build
#   DICE_CUDA=OFF scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/need-packages.sh cmake g++ make libgtest-dev libbenchmark-dev libstb-dev zlib1g-dev python3

BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DDICE_CUDA="${DICE_CUDA:-AUTO}" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
