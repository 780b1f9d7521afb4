#!/usr/bin/env bash
# What the CPU's bf16 mode (--precision bf16: AVX512-BF16, bf16 operands with float32 sums; the
# Winograd 3x3s stay fp32, see kernels/conv2d.h) changes in the paper's CIFAR-10 evaluation:
# the main job (run-cifar10.sh) run twice, fp32 then bf16, each timed, plus `dice features` on the
# ID set at both precisions; then scripts/precision_compare.py prints the top-1 agreement, both
# accuracies, how far the features moved, and every OOD metric of both runs with the change.
#   scripts/bf16-accuracy.sh [ASSETS_DIR] [extra dice options, e.g. --cpu-conv direct]
# (--cpu-conv direct runs every conv in bf16, the Winograd ones included.)
set -euo pipefail
cd "$(dirname "$0")/.."
ASSETS=${1:-../shared/assets}
shift || true
BUILD=${BUILD_DIR:-build}
ID=$ASSETS/data/cifar-10-batches-bin-exact1032/test_batch.bin
CKPT=$ASSETS/checkpoints/CIFAR-10/densenet/checkpoint_100.pth.tar
for f in "$ID" "$CKPT"; do
  [ -e "$f" ] || { echo "bf16-accuracy: $f is missing; pass the assets folder as the first argument" >&2; exit 1; }
done
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
for pr in fp32 bf16; do
  echo "== $pr: the CIFAR-10 evaluation (run-cifar10.sh --precision $pr)" >&2
  REPORT=$OUT/$pr.html BUILD_DIR=$BUILD scripts/run-cifar10.sh "$ASSETS" --precision "$pr" \
    --json "$OUT/$pr.json" "$@" > "$OUT/$pr.log"
  grep -E "^(device|wall time)" "$OUT/$pr.log" >&2
  echo "== $pr: features of the ID set" >&2
  "$BUILD/dice" features --model densenet101 --weights "$CKPT" --data "$ID" --precision "$pr" \
    --out "$OUT/id_$pr" "$@" > /dev/null
done
echo "bf16 against fp32 on$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2)"
python3 scripts/precision_compare.py "$OUT/id_fp32" "$OUT/id_bf16" "$OUT/fp32.json" "$OUT/bf16.json" fp32 bf16
