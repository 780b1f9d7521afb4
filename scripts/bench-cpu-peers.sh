#!/usr/bin/env bash
# CPU speed against the engines a practitioner would pick, back to back on this machine, same
# batch, all cores, fp32: this library (its benchmark program and the `dice features` tool),
# PyTorch (Debian's python3-torch), ONNX Runtime and OpenVINO (from PyPI, in a virtual environment
# outside the repository, made on first use: a benchmark-only tool, never a dependency of the
# library, the build or the tests). Networks: DenseNet-101 at batch 128 (the paper's CIFAR-10
# checkpoint when ../shared/assets has it) and ResNet-50 at batch 32 (random weights).
# Per engine: images/s and the ratio to ONNX Runtime, batch-1 latency, and GFLOP/s against two
# ceilings measured in the same run: the cores' fp32 FMA peak (bench/bench_fma_peak, registers
# only) and OpenBLAS sgemm 4096^3 (numpy from the venv, OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset).
# "dice features" is timed on pre-processed random tensors (tensor:X.npy) at two sizes, and the
# difference taken, so start-up, weight loading and file writing cancel out.
# Where the CPU has AVX512-BF16 (and PEERS_BF16 is not 0) two bf16 rows follow, still compared
# with ONNX Runtime's fp32: `dice features --precision bf16` and OpenVINO at bf16 inference
# precision, its own bf16 mode.
# Quiet machine only: anything else on the cores moves these numbers by tens of percent.
#   scripts/bench-cpu-peers.sh [densenet|resnet|all]      Env: BUILD_DIR, DICE_ASSETS, PEERS_VENV,
#                                                          PEERS_SECONDS (timed seconds per figure),
#                                                          PEERS_REPEATS (runs per `dice features` size),
#                                                          PEERS_BF16 (0: no bf16 rows)
set -euo pipefail
cd "$(dirname "$0")/.."
WHICH=${1:-all}
BUILD_DIR=${BUILD_DIR:-build}
ASSETS=${DICE_ASSETS:-../shared/assets}
VENV=${PEERS_VENV:-$HOME/.cache/dice-peers-venv}
SECS=${PEERS_SECONDS:-8}
REPEATS=${PEERS_REPEATS:-3}
THREADS=$(nproc)
BF16=${PEERS_BF16:-1}
grep -qw avx512_bf16 /proc/cpuinfo || BF16=0

scripts/need-packages.sh python3-torch python3-torchvision python3-venv
for b in bench/bench_densenet_cpu bench/bench_resnet_cpu bench/bench_fma_peak dice; do
  [ -x "$BUILD_DIR/$b" ] || { scripts/setup.sh >&2; break; }
done
if ! "$VENV/bin/python" -c 'import onnxruntime, openvino, numpy' 2>/dev/null; then
  echo "bench-cpu-peers: installing onnxruntime, openvino and numpy into $VENV (PyPI)" >&2
  /usr/bin/python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q onnxruntime openvino numpy >&2
fi
PY="$VENV/bin/python"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out="$tmp/results.jsonl"

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $THREADS cores; fp32, $THREADS threads each" >&2
# Ceilings.
"$BUILD_DIR/bench/bench_fma_peak" --benchmark_filter="BM_FmaPeak/real_time/threads:$THREADS\$" \
  --benchmark_format=json 2>/dev/null |
  "$PY" -c 'import json,sys; b=json.load(sys.stdin)["benchmarks"][0]; print(json.dumps({"ceiling": "fma_peak", "gflops": b["GFLOP/s"], "isa": b.get("label", "")}))' >>"$out"
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS="$THREADS" \
  "$PY" scripts/peers_bench.py --engine sgemm --threads "$THREADS" |
  "$PY" -c 'import json,sys; r=json.loads(sys.stdin.read()); print(json.dumps({"ceiling": "sgemm", "gflops": r["gflops"]}))' >>"$out"

calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }

# bench_json PROGRAM FILTER FIELD: one field of the first case of a Google Benchmark program.
bench_json() {
  "$BUILD_DIR/bench/$1" --benchmark_filter="$2" --benchmark_format=json 2>/dev/null |
    "$PY" -c "import json,sys; print(json.load(sys.stdin)['benchmarks'][0]['$3'])"
}

# features_ips NAME WEIGHTS BATCH PRECISION ENGINE_LABEL: `dice features` on the two input sizes
# network() saved ($tmp/x$n1.npy, $tmp/x$n2.npy): (n2 - n1) / (t2 - t1), each size timed
# PEERS_REPEATS times, alternating, and its fastest run kept (one slow run on a shared machine
# would otherwise swing the difference by tens of percent either way). Leaves the log of the
# smaller size in $tmp/log$n1 (its GFLOP per image).
features_ips() {
  local name=$1 weights=$2 batch=$3 precision=$4 label=$5 t1="" t2=""
  for rep in $(seq "$REPEATS"); do
    for n in $n1 $n2; do
      local s e t
      s=$(date +%s.%N)
      "$BUILD_DIR/dice" features --model "$name" --weights "$weights" --data "tensor:$tmp/x$n.npy" \
        --batch "$batch" --threads "$THREADS" --precision "$precision" --out "$tmp/f$n" --quiet \
        --verbose >/dev/null 2>"$tmp/log$n"
      e=$(date +%s.%N)
      t=$(calc "$e - $s")
      if [ "$n" = "$n1" ]; then
        t1=$(calc "${t1:-$t} < $t ? ${t1:-$t} : $t")
      else
        t2=$(calc "${t2:-$t} < $t ? ${t2:-$t} : $t")
      fi
    done
  done
  echo "{\"network\": \"$name\", \"engine\": \"$label\", \"images_per_s\": $(calc "($n2 - $n1) / ($t2 - $t1)")}" >>"$out"
}

# network NAME BATCH SIDE BENCH_PROGRAM BENCH_CASE WEIGHTS ONNX_ARGS...
network() {
  local name=$1 batch=$2 side=$3 prog=$4 case=$5 weights=$6
  shift 6
  echo "== $name, batch $batch" >&2
  /usr/bin/python3 scripts/export_onnx.py --model "$name" --out "$tmp/$name.onnx" "$@" >&2
  # This library: the benchmark program (throughput, and batch-1 latency in ms) ...
  local ips lat
  ips=$(bench_json "$prog" "$case/$batch/" "images/s")
  lat=$(bench_json "$prog" "$case/1/" "median_ms")  # the median, as the peers report theirs
  echo "{\"network\": \"$name\", \"engine\": \"dice-cuda (benchmark)\", \"images_per_s\": $ips, \"latency1_ms\": $lat}" >>"$out"
  if [ "$BF16" != 0 ]; then
    ips=$(bench_json "$prog" "${case}Bf16/$batch/" "images/s")
    lat=$(bench_json "$prog" "${case}Bf16/1/" "median_ms")
    echo "{\"network\": \"$name\", \"engine\": \"dice-cuda bf16 (benchmark)\", \"images_per_s\": $ips, \"latency1_ms\": $lat}" >>"$out"
  fi
  # ... and the tool (fp32; bf16 too where the CPU has it).
  local n1=$((batch * 2)) n2=$((batch * 6)) gflop
  "$PY" -c "import numpy as np; r=np.random.default_rng(3)
for n in ($n1, $n2): np.save('$tmp/x%d.npy' % n, r.standard_normal((n, 3, $side, $side), dtype=np.float32))"
  features_ips "$name" "$weights" "$batch" fp32 "dice-cuda (dice features)"
  gflop=$(sed -nE 's/.* ([0-9.]+) GFLOP per image.*/\1/p' "$tmp/log$n1" | head -1)
  echo "{\"network\": \"$name\", \"gflop_per_image\": $gflop}" >>"$out"
  [ "$BF16" = 0 ] || features_ips "$name" "$weights" "$batch" bf16 "dice-cuda bf16 (dice features)"
  # PyTorch eager (inference_mode), then the ONNX engines.
  local torch1 torchb
  torchb=$(/usr/bin/python3 scripts/torch_densenet_bench.py --model "$name" --batch "$batch" --threads "$THREADS" --seconds "$SECS" | awk '{print $2}')
  torch1=$(/usr/bin/python3 scripts/torch_densenet_bench.py --model "$name" --batch 1 --threads "$THREADS" --seconds "$SECS" | awk '{print $2}')
  echo "{\"network\": \"$name\", \"engine\": \"PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)')\", \"images_per_s\": $torchb, \"latency1_ms\": $(calc "1000 / $torch1")}" >>"$out"
  for engine in ort openvino; do
    "$PY" scripts/peers_bench.py --engine "$engine" --onnx "$tmp/$name.onnx" --side "$side" --batch "$batch" \
      --threads "$THREADS" --seconds "$SECS" |
      "$PY" -c "import json,sys; r=json.loads(sys.stdin.read()); r['network']='$name'; r['engine']={'ort':'ONNX Runtime','openvino':'OpenVINO'}[r['engine']]+' '+r['version'].split('-')[0]; print(json.dumps(r))" >>"$out"
  done
  [ "$BF16" = 0 ] || "$PY" scripts/peers_bench.py --engine openvino --precision bf16 --onnx "$tmp/$name.onnx" \
      --side "$side" --batch "$batch" --threads "$THREADS" --seconds "$SECS" |
    "$PY" -c "import json,sys; r=json.loads(sys.stdin.read()); r['network']='$name'; r['engine']='OpenVINO '+r['version'].split('-')[0]+' bf16'; print(json.dumps(r))" >>"$out"
}

if [ "$WHICH" = all ] || [ "$WHICH" = densenet ]; then
  ckpt="$ASSETS/checkpoints/CIFAR-10/densenet/checkpoint_100.pth.tar"
  if [ -f "$ckpt" ]; then
    network densenet101 128 32 bench_densenet_cpu BM_DenseNet101Forward "$ckpt" --weights "$ckpt"
  else
    "$BUILD_DIR/dice" random-weights --model densenet101 --out "$tmp/dn.safetensors" >/dev/null
    network densenet101 128 32 bench_densenet_cpu BM_DenseNet101Forward "$tmp/dn.safetensors"
  fi
fi
if [ "$WHICH" = all ] || [ "$WHICH" = resnet ]; then
  "$BUILD_DIR/dice" random-weights --model resnet50 --out "$tmp/rn50.safetensors" >/dev/null
  network resnet50 32 224 bench_resnet_cpu BM_ResNet50Forward "$tmp/rn50.safetensors"
fi
"$PY" scripts/peers_bench.py --table "$out"
