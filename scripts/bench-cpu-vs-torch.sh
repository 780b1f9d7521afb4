#!/usr/bin/env bash
# CPU speed of DenseNet-101 at batch 128: our CPU path vs Debian's python3-torch, back to back on
# the same machine, then the ratio. Needs /usr/bin/python3 with torch (apt-get install
# python3-torch) for the baseline; the build is made by scripts/setup.sh.
#   scripts/bench-cpu-vs-torch.sh [BATCH]
set -euo pipefail
cd "$(dirname "$0")/.."
BATCH=${1:-128}
BUILD_DIR=${BUILD_DIR:-build}
[ -x "$BUILD_DIR/bench/bench_densenet_cpu" ] || scripts/setup.sh >&2
ours=$("$BUILD_DIR/bench/bench_densenet_cpu" --benchmark_filter="BM_DenseNet101Forward/$BATCH/" \
        --benchmark_format=csv 2>/dev/null | awk -F, '/BM_DenseNet101Forward/ {print $NF}' | tail -1)
# Google Benchmark's csv puts user counters last; fall back to the console line if it changes.
if ! [[ "$ours" =~ ^[0-9.eE+]+$ ]]; then
  ours=$("$BUILD_DIR/bench/bench_densenet_cpu" --benchmark_filter="BM_DenseNet101Forward/$BATCH/" 2>/dev/null \
         | sed -n 's/.*images\/s=\([0-9.]*\)\([kM]\?\)\/s.*/\1 \2/p' | awk '{m=($2=="k")?1000:1; print $1*m}')
fi
echo "dice-cuda CPU: $ours images/s (batch $BATCH, $(nproc) cores)"
torch_line=$(/usr/bin/python3 scripts/torch_densenet_bench.py --batch "$BATCH" --threads "$(nproc)")
echo "PyTorch   CPU: $torch_line"
theirs=$(echo "$torch_line" | awk '{print $2}')
awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "ratio dice/torch: %.2fx\n", a / b }'
