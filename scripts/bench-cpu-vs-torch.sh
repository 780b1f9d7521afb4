#!/usr/bin/env bash
# CPU speed, our CPU path vs Debian's python3-torch, back to back on the same machine, with the
# ratio: DenseNet-101 at batch 128 (32x32) and ResNet-50 at batch 32 (224x224). Needs
# /usr/bin/python3 with torch and torchvision (apt-get install python3-torch python3-torchvision)
# for the baseline; the build is made by scripts/setup.sh.
#   scripts/bench-cpu-vs-torch.sh [densenet|resnet|all]
set -euo pipefail
cd "$(dirname "$0")/.."
WHICH=${1:-all}
BUILD_DIR=${BUILD_DIR:-build}
[ -x "$BUILD_DIR/bench/bench_densenet_cpu" ] && [ -x "$BUILD_DIR/bench/bench_resnet_cpu" ] || scripts/setup.sh >&2

# Prints the images/s counter of one Google Benchmark case.
ours() {
  "$BUILD_DIR/bench/$1" --benchmark_filter="$2" --benchmark_format=json 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["benchmarks"][0]["images/s"])'
}

compare() {  # name, bench binary, filter, torch model, batch
  local a b line
  a=$(ours "$2" "$3")
  line=$(/usr/bin/python3 scripts/torch_densenet_bench.py --model "$4" --batch "$5" --threads "$(nproc)")
  b=$(echo "$line" | awk '{print $2}')
  printf '%-12s batch %-4s dice-cuda %8.2f images/s   PyTorch %8.2f images/s   ratio %.2fx\n' \
    "$1" "$5" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN{print a/b}')"
  echo "  ($line)"
}

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
if [ "$WHICH" = all ] || [ "$WHICH" = densenet ]; then
  compare densenet101 bench_densenet_cpu 'BM_DenseNet101Forward/128/' densenet101 128
fi
if [ "$WHICH" = all ] || [ "$WHICH" = resnet ]; then
  compare resnet50 bench_resnet_cpu 'BM_ResNet50Forward/32/' resnet50 32
fi
