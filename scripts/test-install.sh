#!/usr/bin/env bash
# Checks the installed package as a user would meet it: `cmake --install` of the build into a
# scratch prefix, then examples/ configured with find_package(dice) and built against that prefix
# alone, and the same program built with `pkg-config --cflags --libs dice`; both are run on the
# shared assets when they are there. CI runs it after scripts/test.sh (which makes the build).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD_DIR:-build}
scripts/need-packages.sh pkg-config
[ -f "$BUILD/CMakeCache.txt" ] || scripts/setup.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$BUILD" --prefix "$tmp/prefix" >/dev/null
echo "test-install: installed into $tmp/prefix ($(du -sh "$tmp/prefix" | cut -f1))"
cmake -S examples -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$tmp/cmake-build" -j"$(nproc)" >/dev/null
echo "test-install: examples/ built with find_package(dice)"
PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig" g++ -O2 examples/dice_example.cpp -o "$tmp/pc_example" \
  $(PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig" pkg-config --cflags --libs dice)
echo "test-install: examples/dice_example.cpp built with pkg-config dice"
A=${DICE_ASSETS:-../shared/assets}
ckpt=$A/checkpoints/CIFAR-10/densenet/checkpoint_100.pth.tar
stat=$A/cache/CIFAR-10_densenet_feat_stat.npy
batch=$A/data/cifar-10-batches-bin-exact200/test_batch.bin
if [ -f "$ckpt" ] && [ -f "$stat" ] && [ -f "$batch" ]; then
  "$tmp/cmake-build/dice_example" "$ckpt" "$stat" "$batch" 64
  "$tmp/pc_example" "$ckpt" "$stat" "$batch" 64 >/dev/null
  echo "test-install: both examples ran"
else
  echo "test-install: assets not found under $A; the examples were built, not run"
fi
echo "test-install: 1 passed, 0 failed"
