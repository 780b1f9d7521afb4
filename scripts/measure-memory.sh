#!/usr/bin/env bash
# Peak resident memory of `dice features` on the CPU, against what the network plan predicts:
# a full-size ResNet-50 with random weights (dice random-weights) over 64 images of
# ../shared/assets/datasets/imagenet-sample at several batch sizes. For each batch it prints the
# maximum resident set (GNU time), the plan's activation arena at that batch (--verbose) and the
# weights, and the ratio of the resident set to weights + the activations of the largest batch
# that runs (a batch above 64 runs 64 images: the arena grows to the largest batch seen).
#   scripts/measure-memory.sh [BATCH ...]        (default: 4 32 128)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
ASSETS=${DICE_ASSETS:-../shared/assets}
DATA="$ASSETS/datasets/imagenet-sample"
[ -d "$DATA" ] || { echo "measure-memory: $DATA not found; set DICE_ASSETS" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "measure-memory: needs GNU time (apt-get install time)" >&2; exit 1; }
[ -x "$BUILD_DIR/dice" ] || scripts/setup.sh >&2
BATCHES=("$@")
[ ${#BATCHES[@]} -gt 0 ] || BATCHES=(4 32 128)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$BUILD_DIR/dice" random-weights --model resnet50 --out "$tmp/resnet50.safetensors" >/dev/null
weights_mb=$(du -m "$tmp/resnet50.safetensors" | cut -f1)
echo "ResNet-50, random weights (${weights_mb} MB file), 64 images of imagenet-sample, $(nproc) threads"
printf '%-6s %10s %22s %12s %10s\n' batch "RSS MB" "activations MB (run)" "weights MB" "RSS/(w+a)"
for b in "${BATCHES[@]}"; do
  /usr/bin/time -v "$BUILD_DIR/dice" features --model resnet50 --weights "$tmp/resnet50.safetensors" \
    --data "$DATA" --limit 64 --batch "$b" --out "$tmp/f" --verbose --quiet >/dev/null 2>"$tmp/log"
  rss_kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$tmp/log")
  line=$(grep -m1 ' parameters (' "$tmp/log")
  act=$(echo "$line" | sed -E 's/.*activations ([0-9.]+) MB at batch.*/\1/')
  par=$(echo "$line" | sed -E 's/.*parameters \(([0-9.]+) MB\).*/\1/')
  awk -v b="$b" -v r="$rss_kb" -v a="$act" -v p="$par" 'BEGIN {
    run = (b > 64 ? a * 64 / b : a)
    printf "%-6s %10.0f %10.1f (%7.1f) %12.1f %10.2f\n", b, r / 1024, a, run, p, (r / 1024) / (run + p) }'
  rm -f "$tmp"/f.*
done
