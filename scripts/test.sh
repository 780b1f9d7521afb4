#!/usr/bin/env bash
# The test command: installs missing build dependencies, builds, runs the whole GoogleTest suite
# through CTest. Needs no GPU (GPU tests skip themselves) and no PyTorch. Assets are read from
# ../shared/assets when present (tests that need one skip, naming it, when it is absent).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j"$(nproc)" --timeout 900
