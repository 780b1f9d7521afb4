#!/usr/bin/env bash
# gpu-check.sh: the checks that need a GPU, from a prebuilt build folder, in under 8 minutes.
#
#   scripts/gpu-check.sh [BUILD_DIR] [--assets DIR]             run the checks
#   scripts/gpu-check.sh [BUILD_DIR] --only resnet              only the ResNet steps (9-12)
#   scripts/gpu-check.sh [BUILD_DIR] --prepare [--assets SRC]   on the build machine, beforehand
#
# BUILD_DIR defaults to ./build. Device time is scarce, so the script never rebuilds binaries that
# exist; it builds only the programs it runs, and only when they are missing. Steps, in order of
# importance, each under its own timeout and all within one budget ($DICE_GPU_CHECK_BUDGET,
# default 450 s; a step that no longer fits is skipped):
#   1. the CUDA tests of test_kernels (every *Cuda* / arena / buffer test; the CPU tests are CI's);
#   2. the DenseNetCuda tests of test_nn (whole network vs the CPU DenseNet, graphs, pipeline);
#   3. bench_densenet_cuda: DenseNet-101 images/s at batch 1, 64, 256, 1024 (graph replays),
#      per-layer times at 256, the host pipeline, the CPU path at 64;
#   4. the PyTorch eager baseline on the same card (scripts/torch_densenet_bench.py --cuda): fp32
#      with TF32 off, TF32 on, and channels_last AMP fp16, same batch sizes; skipped without torch;
#   5. the CIFAR-10 evaluation on the GPU (`dice eval --device cuda`), timed; needs --assets;
#   6. compute-sanitizer memcheck and 7. racecheck on small kernel tests and a small forward;
#   8. bench_kernels_cuda (conv2d_cuda vs cuDNN, TFLOP/s) with the time that is left;
#   then ResNet-50 (issue 5), after the DenseNet steps and within the same budget, so a full run
#   reaches them only if time is left; `--only resnet` (or DICE_GPU_CHECK_ONLY=resnet) runs them
#   alone with the whole budget:
#   9. the tensor-core and ResNet tests: test_kernels Conv2dTc/MmaFragments/Precision/Conv2dTcPack
#      (conv2d_tc vs conv2d_naive on every ResNet-50 shape, exact-operand and fp32 references) and
#      test_nn ResNetCuda* (fp32 within 1e-4 of the CPU path, tensor-core modes, cuDNN backend);
#  10. compute-sanitizer memcheck on the odd-shape conv2d_tc tests;
#  11. bench_resnet_cuda: per-shape ours vs cuDNN at fp32/tf32/fp16/bf16 (TFLOP/s, ratio), end to
#      end images/s at batch 1/32/256, per-stage times, top-1/logit/energy agreement with fp32;
#  12. PyTorch eager ResNet-50 on the same card (fp32, channels_last AMP), batch 1/32/256, in the
#      same end-to-end table (torch's input is on the GPU too).
# The step summary and then the images/s table (ours vs PyTorch) come last; the exit status is
# non-zero if any step failed, timed out or was skipped.
#
# Assets: the device machine has only what the caller carries (not ../shared/assets). --prepare
# --assets ../shared/assets copies a small subset (the CIFAR-10 checkpoint, its feature mean and
# the 10,000 CIFAR-10 test JPEGs, about 13 MB) into BUILD_DIR/assets-small; a run uses
# BUILD_DIR/assets-small when --assets is not given. The evaluation's OOD sets are gaussian and
# uniform noise, plus dtd and imagenet-sample when the assets folder has them.
#
# Carrying to a device machine (the working tree travels, ignored build outputs only when named;
# 64 MiB in all): build here, run --prepare, then carry the binaries, lib and assets-small alone:
#   build/tests/test_kernels build/tests/test_nn build/bench/bench_kernels_cuda
#   build/bench/bench_densenet_cuda build/bench/bench_resnet_cuda build/dice build/lib
#   build/assets-small   (about 35 MB; 8 carry paths at most)
#
# Libraries: Debian ships Google Benchmark only as libbenchmark.so.1debian, which the GPU machine
# lacks. --prepare (or any run where the library exists) copies it and libcudart into
# BUILD_DIR/lib, which is put first on LD_LIBRARY_PATH. cuDNN (for the vendor baseline of step 8)
# is looked up in the CUDA toolkit, the system and the Python `nvidia-cudnn` wheel that PyTorch
# installs; without it that step fails alone. Logs go to $DICE_GPU_CHECK_LOGS (default
# BUILD_DIR/gpu-check).
set -u

BUILD=build
MODE=
ASSETS=
ONLY=${DICE_GPU_CHECK_ONLY:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --prepare) MODE=--prepare ;;
    --only) ONLY=${2:-}; shift ;;
    --only=*) ONLY=${1#--only=} ;;
    --assets) ASSETS=${2:-}; shift ;;
    --assets=*) ASSETS=${1#--assets=} ;;
    *) BUILD=$1 ;;
  esac
  shift
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOGS=${DICE_GPU_CHECK_LOGS:-$BUILD/gpu-check}
BUDGET=${DICE_GPU_CHECK_BUDGET:-450}
TEST_BIN=$BUILD/tests/test_kernels
NN_TEST_BIN=$BUILD/tests/test_nn
BENCH_BIN=$BUILD/bench/bench_kernels_cuda
DN_BENCH_BIN=$BUILD/bench/bench_densenet_cuda
RN_BENCH_BIN=$BUILD/bench/bench_resnet_cuda
DICE_BIN=$BUILD/dice
ALL_BINS=("$TEST_BIN" "$NN_TEST_BIN" "$DN_BENCH_BIN" "$DICE_BIN" "$BENCH_BIN" "$RN_BENCH_BIN")
if [ -n "$ONLY" ] && [ "$ONLY" != resnet ]; then
  echo "gpu-check: --only takes 'resnet', got '$ONLY'" >&2
  exit 2
fi
[ "$ONLY" = resnet ] && ALL_BINS=("$TEST_BIN" "$NN_TEST_BIN" "$RN_BENCH_BIN")
# Small shapes that still cover every kernel: all conv tile paths (TM = 1, 2, 4; kernel 1, 3,
# generic), both pools, the head, the runtime helpers.
SMALL_FILTER='Shapes/Conv2dCuda.MatchesNaive/odd_*:Shapes/Conv2dCuda.MatchesNaive/densenet_b3_3x3_last:Shapes/PoolCuda.*:Shapes/GlobalAvgPoolCuda.*:Shapes/HeadCuda.MatchesCpu/odd_*:HeadCudaTies.*:HeadCudaOutputs.*:DeviceArena.*:DeviceBuffer.*'
CUDA_FILTER='*Cuda*:DeviceArena*:DeviceBuffer*'
# A small whole forward (DenseNet-BC depth 22, 3 images), through a captured graph.
NN_SMALL_FILTER='DenseNetCuda.MatchesCpuDepth22Cifar100'
NN_FILTER='DenseNetCuda*'
# ResNet-50 / tensor cores (issue 5).
TC_FILTER='Shapes/Conv2dTc.*:Conv2dTcArgs.*:MmaFragments.*:Precision.*:Conv2dTcPack.*'
TC_SMALL_FILTER='Shapes/Conv2dTc.MatchesNaive/odd_*'
RN_FILTER='ResNetCuda*'
BATCHES=(1 64 256 1024)
CIFAR_CKPT=checkpoints/CIFAR-10/densenet/checkpoint_100.pth.tar
CIFAR_STAT=cache/CIFAR-10_densenet_feat_stat.npy
CIFAR_TEST=data/cifar-10-test-jpeg

# ---- libraries next to the binaries ----
mkdir -p "$BUILD/lib"
for lib in /usr/lib/x86_64-linux-gnu/libbenchmark.so.1debian /usr/local/cuda/lib64/libcudart.so.13; do
  if [ -e "$lib" ] && [ ! -e "$BUILD/lib/$(basename "$lib")" ]; then
    cp -L "$lib" "$BUILD/lib/" && echo "gpu-check: copied $(basename "$lib") into $BUILD/lib"
  fi
done
if [ "$MODE" = "--prepare" ]; then
  if [ -n "$ASSETS" ]; then
    small=$BUILD/assets-small
    for f in "$CIFAR_CKPT" "$CIFAR_STAT" "$CIFAR_TEST"; do
      if [ ! -e "$ASSETS/$f" ]; then
        echo "gpu-check: $ASSETS/$f is missing; not copied"
      elif [ ! -e "$small/$f" ]; then
        mkdir -p "$small/$(dirname "$f")" && cp -r "$ASSETS/$f" "$small/$f"
      fi
    done
    echo "gpu-check: assets for the evaluation in $small ($(du -sh "$small" | cut -f1))"
  fi
  for b in "${ALL_BINS[@]}"; do
    [ -x "$b" ] || echo "gpu-check: missing $b: cmake --build $BUILD --target $(basename "$b")"
  done
  exit 0
fi
if [ -z "$ASSETS" ] && [ -d "$BUILD/assets-small" ]; then ASSETS=$BUILD/assets-small; fi

LIBPATH="$(cd "$BUILD/lib" && pwd)"
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/lib/x86_64-linux-gnu; do
  [ -d "$d" ] && LIBPATH="$LIBPATH:$d"
done
HAVE_TORCH=0
if command -v python3 >/dev/null 2>&1; then
  python3 -c 'import torch' >/dev/null 2>&1 && HAVE_TORCH=1
  # The pip wheels (nvidia-cudnn-cu13, nvidia-cublas) keep their libraries under site-packages.
  for d in $(python3 -c 'import importlib, os
for m in ("nvidia.cudnn", "nvidia.cublas", "nvidia.cuda_runtime"):
    try:
        mod = importlib.import_module(m)
        for p in mod.__path__: print(os.path.join(p, "lib"))
    except Exception: pass' 2>/dev/null); do
    [ -d "$d" ] && LIBPATH="$LIBPATH:$d"
  done
fi
export LD_LIBRARY_PATH="$LIBPATH${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# Test binaries compile in the fixture folder of the machine that built them; the checkout on the
# GPU machine may live elsewhere (tests that honour it: tests/nn/densenet_cuda_test.cpp).
export DICE_FIXTURES="$ROOT/tests/fixtures"

# ---- binaries: build only what is missing ----
missing=()
for b in "${ALL_BINS[@]}"; do [ -x "$b" ] || missing+=("$(basename "$b")"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "gpu-check: ${missing[*]} missing in $BUILD: building them (this costs device time)"
  [ -f "$BUILD/CMakeCache.txt" ] || cmake -S "$ROOT" -B "$BUILD" -DCMAKE_CUDA_ARCHITECTURES=90 >/dev/null
  cmake --build "$BUILD" --target "${missing[@]}" -j"$(nproc)" || echo "gpu-check: build failed"
fi

mkdir -p "$LOGS"
SANITIZER=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
STEPS=() STATUS=() SECS=() NOTES=()
failed=0
START=$SECONDS

# run_step NAME SECONDS LOGFILE CMD...: runs CMD under a timeout (capped by what is left of the
# budget), tees its output to the log.
run_step() {
  local name=$1 limit=$2 log=$3
  shift 3
  local left=$((BUDGET - (SECONDS - START)))
  if [ "$left" -lt 15 ]; then
    skip_step "$name" "no time left in the ${BUDGET}s budget"
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  local t0=$SECONDS rc
  echo
  echo "==== $name (timeout ${limit}s) ===="
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$LOGS/$log"
  rc=${PIPESTATUS[0]}
  local st=PASS
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then st=TIMEOUT; elif [ "$rc" -ne 0 ]; then st="FAIL($rc)"; fi
  [ "$st" = PASS ] || failed=1
  STEPS+=("$name") STATUS+=("$st") SECS+=($((SECONDS - t0))) NOTES+=("$LOGS/$log")
}

skip_step() {
  STEPS+=("$1") STATUS+=("SKIP") SECS+=(0) NOTES+=("$2")
  failed=1
}

# A benchmark that failed its CPU check (or could not run) reports an error, not a failure.
mark_bench_errors() {
  if [ "${STATUS[-1]}" = PASS ] && grep -q "ERROR OCCURRED" "$LOGS/$1"; then
    STATUS[-1]="ERRORS"
    failed=1
  fi
}

libs_ok() {
  if ldd "$1" | grep -q "not found"; then
    ldd "$1" | grep "not found"
    return 1
  fi
}

echo "gpu-check: build=$BUILD logs=$LOGS assets=${ASSETS:-none} budget=${BUDGET}s"
if command -v nvidia-smi >/dev/null 2>&1 &&
   timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; then
  :
else
  # The tests would all skip and the benchmarks all error: still run them (it is cheap), but the
  # check as a whole cannot pass.
  echo "gpu-check: no GPU visible (nvidia-smi failed); the results below prove nothing"
  skip_step "gpu" "no GPU visible"
fi

if [ "$ONLY" != resnet ]; then  # ---- DenseNet and kernel steps 1-8 ----

# 1, 2: tests
if [ -x "$TEST_BIN" ]; then
  run_step "cuda tests" 90 test_kernels.log "$TEST_BIN" --gtest_filter="$CUDA_FILTER" \
    --gtest_brief=1 --gtest_output="xml:$LOGS/test_kernels.xml"
else
  skip_step "cuda tests" "missing $TEST_BIN"
fi
if [ -x "$NN_TEST_BIN" ]; then
  run_step "nn tests" 90 test_nn.log "$NN_TEST_BIN" --gtest_filter="$NN_FILTER" \
    --gtest_brief=1 --gtest_output="xml:$LOGS/test_nn.xml"
else
  skip_step "nn tests" "missing $NN_TEST_BIN"
fi

# 3: DenseNet-101 on our kernels
if [ -x "$DN_BENCH_BIN" ] && libs_ok "$DN_BENCH_BIN"; then
  run_step "densenet bench" 120 bench_densenet_cuda.log "$DN_BENCH_BIN" --benchmark_min_time=0.3 \
    --benchmark_counters_tabular=true --benchmark_out="$LOGS/bench_densenet_cuda.json" \
    --benchmark_out_format=json
  mark_bench_errors bench_densenet_cuda.log
else
  skip_step "densenet bench" "missing $DN_BENCH_BIN or its libraries"
fi

# 4: PyTorch eager on the same card
if [ "$HAVE_TORCH" = 1 ]; then
  csv=$(IFS=,; echo "${BATCHES[*]}")
  run_step "torch fp32" 70 torch_fp32.log python3 "$ROOT/scripts/torch_densenet_bench.py" --cuda \
    --batches "$csv" --seconds 1.5
  run_step "torch tf32" 70 torch_tf32.log python3 "$ROOT/scripts/torch_densenet_bench.py" --cuda \
    --tf32 --batches "$csv" --seconds 1.5
  run_step "torch amp" 70 torch_amp.log python3 "$ROOT/scripts/torch_densenet_bench.py" --cuda \
    --amp --batches "$csv" --seconds 1.5
else
  skip_step "torch" "python3 -c 'import torch' failed"
fi

# 5: the CIFAR-10 evaluation on the GPU
if [ -n "$ASSETS" ] && [ -e "$ASSETS/$CIFAR_CKPT" ] && [ -e "$ASSETS/$CIFAR_STAT" ] &&
   [ -d "$ASSETS/$CIFAR_TEST" ] && [ -x "$DICE_BIN" ]; then
  ood=(--ood gaussian:1000 --ood uniform:1000)
  [ -d "$ASSETS/datasets/ood_datasets/dtd/images" ] && ood+=(--ood "dtd=$ASSETS/datasets/ood_datasets/dtd/images")
  [ -d "$ASSETS/datasets/imagenet-sample" ] && ood+=(--ood "imagenet-sample=$ASSETS/datasets/imagenet-sample")
  run_step "cifar10 eval" 120 eval_cifar10.log "$DICE_BIN" eval --device cuda --model densenet101 \
    --weights "$ASSETS/$CIFAR_CKPT" --feat-stat "$ASSETS/$CIFAR_STAT" --p 90 \
    --id "cifar10=$ASSETS/$CIFAR_TEST" "${ood[@]}" --batch 256 --quiet
else
  skip_step "cifar10 eval" "no assets (run --prepare --assets ../shared/assets and carry $BUILD/assets-small)"
fi

# 6, 7: sanitizers on small kernel tests and a small whole forward
if [ -x "$SANITIZER" ] && [ -x "$TEST_BIN" ] && [ -x "$NN_TEST_BIN" ]; then
  for tool in memcheck racecheck; do
    extra=(--leak-check full)
    [ "$tool" = racecheck ] && extra=(--racecheck-report all)
    run_step "$tool" 60 "$tool.log" "$SANITIZER" --tool "$tool" "${extra[@]}" \
      --error-exitcode 86 "$TEST_BIN" --gtest_filter="$SMALL_FILTER" --gtest_brief=1
    run_step "$tool nn" 60 "${tool}_nn.log" "$SANITIZER" --tool "$tool" "${extra[@]}" \
      --error-exitcode 86 "$NN_TEST_BIN" --gtest_filter="$NN_SMALL_FILTER" --gtest_brief=1
  done
else
  skip_step "sanitizers" "no compute-sanitizer or test binaries"
fi

# 8: per-kernel benchmark against cuDNN, with what is left
if [ -x "$BENCH_BIN" ] && libs_ok "$BENCH_BIN"; then
  run_step "kernel bench" 150 bench_kernels_cuda.log "$BENCH_BIN" --benchmark_min_time=0.05 \
    --benchmark_counters_tabular=true --benchmark_out="$LOGS/bench_kernels_cuda.json" \
    --benchmark_out_format=json
  mark_bench_errors bench_kernels_cuda.log
else
  skip_step "kernel bench" "missing $BENCH_BIN or its libraries"
fi

fi  # ---- end of the DenseNet and kernel steps ----

# 9: tensor-core convolution and ResNet tests
if [ -x "$TEST_BIN" ]; then
  run_step "tc tests" 120 test_tc.log "$TEST_BIN" --gtest_filter="$TC_FILTER" \
    --gtest_brief=1 --gtest_output="xml:$LOGS/test_tc.xml"
else
  skip_step "tc tests" "missing $TEST_BIN"
fi
if [ -x "$NN_TEST_BIN" ]; then
  run_step "resnet tests" 120 test_resnet.log "$NN_TEST_BIN" --gtest_filter="$RN_FILTER" \
    --gtest_brief=1 --gtest_output="xml:$LOGS/test_resnet.xml"
else
  skip_step "resnet tests" "missing $NN_TEST_BIN"
fi
# 10: memcheck on the small tensor-core cases
if [ -x "$SANITIZER" ] && [ -x "$TEST_BIN" ]; then
  run_step "memcheck tc" 60 memcheck_tc.log "$SANITIZER" --tool memcheck --leak-check full \
    --error-exitcode 86 "$TEST_BIN" --gtest_filter="$TC_SMALL_FILTER" --gtest_brief=1
else
  skip_step "memcheck tc" "no compute-sanitizer or $TEST_BIN"
fi
# 11: ResNet-50, ours vs cuDNN
if [ -x "$RN_BENCH_BIN" ] && libs_ok "$RN_BENCH_BIN"; then
  run_step "resnet bench" 240 bench_resnet_cuda.log "$RN_BENCH_BIN" --benchmark_min_time=0.05 \
    --benchmark_counters_tabular=true --benchmark_out="$LOGS/bench_resnet_cuda.json" \
    --benchmark_out_format=json
  mark_bench_errors bench_resnet_cuda.log
else
  skip_step "resnet bench" "missing $RN_BENCH_BIN or its libraries"
fi

# 12: PyTorch eager ResNet-50 on the same card (fp32 with TF32 off, channels_last AMP fp16)
if [ "$HAVE_TORCH" = 1 ]; then
  run_step "torch rn50 fp32" 60 torch_rn50_fp32.log python3 "$ROOT/scripts/torch_densenet_bench.py" \
    --model resnet50 --cuda --batches 1,32,256 --seconds 1.5
  run_step "torch rn50 amp" 60 torch_rn50_amp.log python3 "$ROOT/scripts/torch_densenet_bench.py" \
    --model resnet50 --cuda --amp --batches 1,32,256 --seconds 1.5
else
  skip_step "torch rn50" "python3 -c 'import torch' failed"
fi

# ---- summaries: per-kernel TFLOP/s, the steps, then the DenseNet table last ----
if [ -s "$LOGS/bench_kernels_cuda.json" ] && command -v python3 >/dev/null 2>&1; then
  echo
  python3 - "$LOGS/bench_kernels_cuda.json" <<'EOF'
import json, sys
rows = {}
for b in json.load(open(sys.argv[1])).get("benchmarks", []):
    parts = b["name"].split("/")
    if len(parts) < 3:
        continue
    impl, shape, batch = parts[0], parts[1], parts[2].split(":")[-1]
    rows.setdefault((shape, int(batch)), {})[impl] = (
        "ERR" if b.get("error_occurred") else "%.2f" % b.get("TFLOP/s", 0.0))
impls = ["conv2d_cuda_fused", "conv2d_cuda_plain", "conv2d_cudnn"]
print("TFLOP/s (fp32)       %-24s %6s %8s %8s %8s" % ("shape", "batch", "fused", "plain", "cudnn"))
for (shape, batch), r in sorted(rows.items(), key=lambda kv: kv[0][1]):  # stable: table order
    print("                     %-24s %6d %8s %8s %8s" % (shape, batch, *(r.get(i, "-") for i in impls)))
EOF
fi

if [ -s "$LOGS/bench_resnet_cuda.json" ] && command -v python3 >/dev/null 2>&1; then
  echo
  python3 - "$LOGS/bench_resnet_cuda.json" "$LOGS" <<'EOF'
import json, os, re, sys
conv, e2e, agree, layers, order = {}, {}, {}, {}, []
for mode, log in (("torch_fp32", "torch_rn50_fp32.log"), ("torch_amp", "torch_rn50_amp.log")):
    p = os.path.join(sys.argv[2], log)
    for line in (open(p) if os.path.exists(p) else []):
        m = re.match(r"torch_images_per_s ([0-9.]+)\s+\(batch=(\d+)", line)
        if m:
            e2e[(mode, int(m.group(2)))] = float(m.group(1))
for b in json.load(open(sys.argv[1])).get("benchmarks", []):
    parts = b["name"].split("/")
    err = b.get("error_occurred")
    if parts[0] == "Conv" and len(parts) >= 3:
        if parts[1] not in order:
            order.append(parts[1])
        conv[(parts[1], parts[2])] = None if err else (b.get("TFLOP/s", 0.0), b.get("count", 0),
                                                        b.get("real_time", 0.0))
    elif parts[0] == "ResNet50" and len(parts) >= 3:
        e2e[(parts[1], int(parts[2].split(":")[1]))] = None if err else b.get("images/s")
    elif parts[0] == "ResNet50Agreement" and not err:
        agree[parts[1]] = (b.get("top1_agree_%"), b.get("max_logit_dev"), b.get("max_energy_dev"))
    elif parts[0] == "ResNet50Layers" and not err:
        layers[parts[1]] = {k[:-3]: v for k, v in b.items() if k.endswith("_ms")}
precs = ["fp32", "tf32", "fp16", "bf16"]
f = lambda v: "%7.1f" % v[0] if v else "%7s" % "-"
r = lambda a, b: "%6.2fx" % (a[0] / b[0]) if a and b and b[0] else "%7s" % "-"
print("ResNet-50 convolutions at batch 256, TFLOP/s: ours (o_), cuDNN (c_), ratio ours/cuDNN")
print("%-26s %3s " % ("shape", "n") + " ".join("%7s %7s %7s" % ("o_" + p, "c_" + p, "ratio") for p in precs))
for s in order:
    cnt = next((v[1] for (sh, _), v in conv.items() if sh == s and v), 0)
    print("%-26s %3d " % (s, cnt) + " ".join("%s %s %s" % (f(conv.get((s, "ours_" + p))),
          f(conv.get((s, "cudnn_" + p))), r(conv.get((s, "ours_" + p)), conv.get((s, "cudnn_" + p))))
          for p in precs))
# Sum over the table of count x time per launch: the network's convolution time at batch 256.
for p in precs:
    o = [conv.get((sh, "ours_" + p)) for sh in order]
    c = [conv.get((sh, "cudnn_" + p)) for sh in order]
    if o and c and all(o) and all(c):
        to, tc = sum(v[1] * v[2] for v in o) / 1e3, sum(v[1] * v[2] for v in c) / 1e3
        print("all 53 convolutions, %s: ours %.1f ms, cuDNN %.1f ms, ours at %.2fx cuDNN's speed"
              % (p, to, tc, tc / to))
print("ResNet-50 end to end, images/s (input on the GPU)")
print("%-12s " % "mode" + " ".join("%10s" % ("batch " + str(bs)) for bs in (1, 32, 256)))
for m in sorted({m for m, _ in e2e}):
    print("%-12s " % m + " ".join("%10s" % ("%.0f" % e2e[(m, bs)] if e2e.get((m, bs)) else "-")
                                  for bs in (1, 32, 256)))
for p in ("fp32", "tf32", "fp16", "bf16"):
    o = e2e.get(("ours_" + p, 256))
    for c in ("cudnn_fp32", "cudnn_tf32", "torch_fp32", "torch_amp"):
        if o and e2e.get((c, 256)):
            print("ours_%s / %s at batch 256: %.2fx" % (p, c, o / e2e[(c, 256)]))
for m, (t, l, e) in sorted(agree.items()):
    print("vs ours_fp32, %-11s top-1 agreement %.1f%%, max logit dev %.2e, max energy dev %.2e"
          % (m, t, l, e))
for m, st in sorted(layers.items()):
    print("per stage at batch 256, %s (ms): " % m + ", ".join("%s %.2f" % kv for kv in sorted(st.items())))
EOF
fi

echo
echo "==== gpu-check summary ===="
printf '%-16s %-10s %6s  %s\n' step status secs log
for i in "${!STEPS[@]}"; do
  printf '%-16s %-10s %6s  %s\n' "${STEPS[$i]}" "${STATUS[$i]}" "${SECS[$i]}" "${NOTES[$i]}"
done
echo "total: $((SECONDS - START)) s"

if command -v python3 >/dev/null 2>&1; then
  echo
  python3 - "$LOGS" <<'EOF'
import json, os, re, sys
logs = sys.argv[1]
ours, layers, pipe, cpu = {}, {}, {}, None
path = os.path.join(logs, "bench_densenet_cuda.json")
if os.path.exists(path):
    for b in json.load(open(path)).get("benchmarks", []):
        if b.get("error_occurred"):
            continue
        m = re.search(r"/(graph|pipeline|layers)/batch:(\d+)", b["name"])
        if m and m.group(1) == "graph":
            ours[int(m.group(2))] = b.get("images/s")
        elif m and m.group(1) == "pipeline":
            pipe[int(m.group(2))] = b.get("images/s")
        elif m:
            layers = {k[:-3]: v for k, v in b.items() if k.endswith("_ms")}
        elif b["name"].startswith("DenseNet101Cpu"):
            cpu = b.get("images/s")
torch = {}
for mode in ("fp32", "tf32", "amp"):
    p = os.path.join(logs, "torch_%s.log" % mode)
    if os.path.exists(p):
        for line in open(p):
            m = re.match(r"torch_images_per_s ([0-9.]+)\s+\(batch=(\d+) mode=(\w+)", line)
            if m:
                torch[(m.group(3), int(m.group(2)))] = float(m.group(1))
f = lambda v: "%10.0f" % v if v else "%10s" % "-"
r = lambda a, b: "%7.2fx" % (a / b) if a and b else "%8s" % "-"
print("DenseNet-101 images/s (fp32 unless noted; ours = graph replay, input on the GPU)")
print("%6s %10s %10s %10s %10s %8s %8s %10s" % ("batch", "ours", "torch32", "torchTF32", "torchAMP",
                                               "ours/32", "ours/AMP", "pipeline"))
for bs in (1, 64, 256, 1024):
    o = ours.get(bs)
    t32, ttf, tamp = (torch.get((m, bs)) for m in ("fp32", "tf32", "amp"))
    print("%6d %s %s %s %s %s %s %s" % (bs, f(o), f(t32), f(ttf), f(tamp), r(o, t32), r(o, tamp),
                                        f(pipe.get(bs))))
if layers:
    print("per layer type at batch 256, ms per forward (plain launches): " +
          ", ".join("%s %.3f" % kv for kv in sorted(layers.items())))
if cpu:
    print("CPU path, batch 64: %.0f images/s" % cpu)
p = os.path.join(logs, "eval_cifar10.log")
if os.path.exists(p):
    walls = [l.strip() for l in open(p) if l.startswith("wall time:") or l.startswith("device:")]
    if any(w.startswith("wall time:") for w in walls):
        print("CIFAR-10 evaluation on the GPU: " + "; ".join(walls))
EOF
fi
exit $failed
