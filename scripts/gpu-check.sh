#!/usr/bin/env bash
# gpu-check.sh: everything that needs a GPU, headline first, in one short GPU window.
#
#   scripts/gpu-check.sh [BUILD_DIR] [--assets DIR]    run the default plan (<= 6 minutes of limits)
#   scripts/gpu-check.sh [BUILD_DIR] --full            ... then the long per-shape tables
#   scripts/gpu-check.sh [BUILD_DIR] --only a,b        only the named steps
#   scripts/gpu-check.sh --plan [--full]               print the steps and their limits, run nothing
#   scripts/gpu-check.sh [BUILD_DIR] --prepare [--assets SRC]   on the build machine, beforehand
#
# Why it looks like this: GPU time comes rarely, in windows of about 15 minutes with the machine's
# start included, so one run must give trustworthy numbers, and a step that hangs or is killed must
# cost only itself. Each step runs under its own time limit and appends one JSON line per result
# to $LOGS/results.jsonl as it finishes (and one line for the step itself); the tables at the end
# are printed from those lines by scripts/gpu_check_summary.py. GPU tests run with
# DICE_REQUIRE_GPU=1, so they fail (naming why) instead of skipping when the GPU cannot be used.
#
# The default plan, in order of what the project most needs to know:
#   probe       nvidia-smi; ldd of every binary with the missing libraries named; driver and
#               runtime versions and one checked kernel launch (bench_e2e_cuda --probe); whether
#               compute-sanitizer works here (gVisor machines refuse it)
#   tests       the GPU tests: test_kernels (CUDA kernels, tensor cores), test_nn (DenseNet and
#               ResNet on the GPU vs the CPU), test_cli (the CLI on the GPU)
#   dn_e2e      DenseNet-101 end to end at batch 1, 256, 1024, ours fp32 (bench_e2e_cuda), and at
#               1024 ours-gemm fp32 (every conv on the implicit GEMM: what conv2d_thin replaced) and
#               ours 3xtf32 (every conv on conv2d_tc, float32-accurate: three tf32 mma per term)
#   dn_torch    PyTorch eager DenseNet-101, fp32 (cudnn.benchmark, TF32 off) and channels_last AMP
#   eval        the CIFAR-10 `dice eval --device cuda`, wall time and stages (needs --assets)
#   rn_e2e      ResNet-50 end to end at batch 256: ours fp32/tf32/fp16/bf16 (fp16/bf16 in 16-bit NHWC
#               on conv2d_nhwc, mma.sync), ours-wgmma / ours-wgmma-ws fp16 (the sm_90a wgmma
#               mainloops: one warpgroup; producer + two consumer warpgroups),
#               ours-nchw fp16 (float32 NCHW on conv2d_tc), cuDNN fp32/tf32
#   rn_torch    PyTorch eager ResNet-50 at batch 256, fp32 and channels_last AMP
#   sanitize    compute-sanitizer memcheck and racecheck on small kernel tests and a small forward,
#               when the probe says the sanitizer works
# --full adds: kernels (per-shape DenseNet convs vs cuDNN), rn_shapes (per-shape ResNet-50 convs vs
# cuDNN at every precision), dn_layers (per-layer DenseNet times, the host pipeline).
# End-to-end timings: >= 200 ms of warm-up, then >= 10 forwards timed one by one with CUDA events;
# median and min-max. Ratios are printed only between runs of the same precision.
#
# Carrying to a device machine (the working tree travels; ignored build outputs only when named in
# carry, 64 MiB in all): build here, then `scripts/gpu-check.sh build --prepare --assets
# ../shared/assets` puts the binaries the plan needs, their libraries and the evaluation's assets
# into build/gpu-carry (about 50 MiB; with --full the benchmarks too, without --assets) and says
# how big it is; carry that one path and run `scripts/gpu-check.sh build/gpu-carry`. Binaries that
# are missing there are built first (the "build" step, sm_80 and sm_90a, outside the plan's 6
# minutes). The exit status is non-zero if any step failed, timed out or was skipped.
# DICE_GPU_CHECK_SELFTEST=1 swaps the plan for fake steps (one of them past its limit) so
# tests/scripts/gpu_check_test.sh can check the runner and the summary anywhere.
set -u

BUILD=build MODE=run ASSETS= ONLY= FULL=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prepare) MODE=prepare ;;
    --plan) MODE=plan ;;
    --full) FULL=1 ;;
    --only) ONLY=${2:-}; shift ;;
    --only=*) ONLY=${1#--only=} ;;
    --assets) ASSETS=${2:-}; shift ;;
    --assets=*) ASSETS=${1#--assets=} ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    -*) echo "gpu-check: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) BUILD=$1 ;;
  esac
  shift
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)

# ---- the plan: name, time limit in seconds, what it does ----
PLAN=(probe:15 tests:70 dn_e2e:35 dn_torch:45 eval:40 rn_e2e:85 rn_torch:35 sanitize:35)
FULL_PLAN=(kernels:150 rn_shapes:240 dn_layers:90)
if [ "${DICE_GPU_CHECK_SELFTEST:-0}" = 1 ]; then
  PLAN=(fake_a:5 fake_slow:2 fake_b:5) FULL_PLAN=()
fi
[ "$FULL" = 1 ] && PLAN+=("${FULL_PLAN[@]}")
if [ -n "$ONLY" ]; then
  picked=()
  for want in ${ONLY//,/ }; do
    found=0
    for s in "${PLAN[@]}" "${FULL_PLAN[@]}"; do
      [ "${s%%:*}" = "$want" ] && picked+=("$s") && found=1 && break
    done
    [ "$found" = 1 ] || { echo "gpu-check: no step '$want' (see --plan --full)" >&2; exit 2; }
  done
  PLAN=("${picked[@]}")
fi

if [ "$MODE" = plan ]; then
  total=0
  printf '%-10s %6s\n' step limit
  for s in "${PLAN[@]}"; do
    printf '%-10s %5ss\n' "${s%%:*}" "${s##*:}"
    total=$((total + ${s##*:}))
  done
  echo "total: ${total} s of limits ($((total / 60)) min $((total % 60)) s)"
  exit 0
fi

TEST_BINS=("$BUILD/tests/test_kernels" "$BUILD/tests/test_nn" "$BUILD/tests/test_cli")
E2E_BIN=$BUILD/bench/bench_e2e_cuda
DICE_BIN=$BUILD/dice
BENCH_BINS=("$BUILD/bench/bench_kernels_cuda" "$BUILD/bench/bench_resnet_cuda" "$BUILD/bench/bench_densenet_cuda")
CIFAR_CKPT=checkpoints/CIFAR-10/densenet/checkpoint_100.pth.tar
CIFAR_STAT=cache/CIFAR-10_densenet_feat_stat.npy
CIFAR_TEST=data/cifar-10-test-jpeg

# Binaries the plan needs: the default plan's, and the benchmarks for the --full steps.
NEED_BINS=("${TEST_BINS[@]}" "$E2E_BIN" "$DICE_BIN")
[ "$FULL" = 1 ] && NEED_BINS+=("${BENCH_BINS[@]}")

# Google Benchmark and the CUDA runtime go next to the binaries: the GPU machine's image may lack
# the first and have another version of the second. Which files they are (soname and folder, on
# any architecture) is what the built binaries resolve them to here; once copied, a carried
# folder keeps them (ldd there may find none).
mkdir -p "$BUILD/lib"
for lib in $(for b in "${NEED_BINS[@]}" "${BENCH_BINS[@]}"; do [ -x "$b" ] && ldd "$b" 2>/dev/null; done |
             awk '$1 ~ /^lib(benchmark|cudart)\.so/ && $3 ~ /^\// { print $3 }' | sort -u); do
  if [ ! -e "$BUILD/lib/$(basename "$lib")" ]; then
    cp -L "$lib" "$BUILD/lib/" && echo "gpu-check: copied $(basename "$lib") into $BUILD/lib"
  fi
done
if [ "$MODE" = prepare ]; then
  # One folder with exactly what the run needs, laid out like a build folder, to carry as one path.
  carry=$BUILD/gpu-carry
  rm -rf "$carry" && mkdir -p "$carry/tests" "$carry/bench" "$carry/lib"
  for b in "${NEED_BINS[@]}"; do
    if [ -x "$b" ]; then
      cp "$b" "$carry/${b#"$BUILD"/}"
    else
      echo "gpu-check: missing $b: cmake --build $BUILD --target $(basename "$b")"
    fi
  done
  cp "$BUILD"/lib/* "$carry/lib/" 2>/dev/null
  if [ -n "$ASSETS" ]; then
    for f in "$CIFAR_CKPT" "$CIFAR_STAT" "$CIFAR_TEST"; do
      if [ -e "$ASSETS/$f" ]; then
        mkdir -p "$carry/assets-small/$(dirname "$f")" && cp -r "$ASSETS/$f" "$carry/assets-small/$f"
      else
        echo "gpu-check: $ASSETS/$f is missing; not copied"
      fi
    done
  fi
  bytes=$(find "$carry" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
  suffix=""
  [ "$FULL" = 1 ] && suffix=" --full"
  echo "gpu-check: $carry holds $((bytes / 1048576)) MiB: carry [\"$carry\"] and run scripts/gpu-check.sh $carry$suffix"
  [ "$bytes" -lt $((62 * 1048576)) ] || echo "gpu-check: over the 64 MiB a device call carries with the tree: leave out --assets or --full"
  exit 0
fi
if [ -z "$ASSETS" ] && [ -d "$BUILD/assets-small" ]; then ASSETS=$BUILD/assets-small; fi

# Libraries: ours first, then the toolkit's, then those of the Python wheels that PyTorch brings
# (CUDA 13's wheels keep cuBLAS and friends under nvidia/cu13/lib, cuDNN under nvidia/cudnn/lib).
# The system's own library folder is named by its multiarch triplet (gcc's, or from uname where
# the GPU machine has no compiler).
MULTIARCH=$(gcc -print-multiarch 2>/dev/null)
[ -n "$MULTIARCH" ] || MULTIARCH="$(uname -m)-linux-gnu"
LIBPATH="$(cd "$BUILD/lib" && pwd)"
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib "/usr/lib/$MULTIARCH"; do
  [ -d "$d" ] && LIBPATH="$LIBPATH:$d"
done
HAVE_TORCH=0
if command -v python3 >/dev/null 2>&1; then
  python3 -c 'import torch' >/dev/null 2>&1 && HAVE_TORCH=1
  for d in $(python3 -c 'import site, glob, os
roots = site.getsitepackages() + [site.getusersitepackages()]
for r in roots:
    for p in sorted(glob.glob(os.path.join(r, "nvidia", "*", "lib")) + glob.glob(os.path.join(r, "nvidia", "cu*", "lib"))):
        print(p)' 2>/dev/null | sort -u); do
    [ -d "$d" ] && LIBPATH="$LIBPATH:$d"
  done
fi
export LD_LIBRARY_PATH="$LIBPATH${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export DICE_FIXTURES="$ROOT/tests/fixtures"  # tests were compiled with the build machine's path
export DICE_REQUIRE_GPU=1

LOGS=${DICE_GPU_CHECK_LOGS:-$BUILD/gpu-check}
mkdir -p "$LOGS"
RESULTS=$LOGS/results.jsonl
[ -s "$RESULTS" ] && mv "$RESULTS" "$LOGS/results.prev.jsonl"
: >"$RESULTS"
SANITIZER=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
failed=0
START=$SECONDS

# json_str TEXT: TEXT as a JSON string (quotes, backslashes and control characters escaped).
json_str() {
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/ }
  s=${s//$'\t'/ }
  printf '"%s"' "$(printf '%s' "$s" | tr -d '\000-\037')"
}

# result KEY=VALUE...: appends one JSON line; a value that is not a number, true, false or a JSON
# literal ([...], {...}) is written as a string.
result() {
  local line="{" sep="" kv k v
  for kv in "$@"; do
    k=${kv%%=*} v=${kv#*=}
    if [[ "$v" =~ ^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$ || "$v" == true || "$v" == false ||
          "$v" == \[*\] || "$v" == \{*\} ]]; then
      line+="$sep\"$k\": $v"
    else
      line+="$sep\"$k\": $(json_str "$v")"
    fi
    sep=", "
  done
  printf '%s}\n' "$line" >>"$RESULTS"
}

# run_step NAME LIMIT: runs step_NAME under LIMIT seconds (less if the whole plan's time is short
# of it), output to $LOGS/NAME.log; appends the step's own line.
run_step() {
  local name=$1 limit=$2 t0=$SECONDS rc st
  echo
  echo "==== $name (limit ${limit}s) ===="
  # timeout signals its whole process group, so a step's children (a test binary, python,
  # compute-sanitizer's target) die with it and nothing is left holding the GPU.
  timeout --kill-after=5 "$limit" bash -c "$(declare -f); $(declare -p | grep -E '^declare (-x|--|-a) (BUILD|ROOT|ASSETS|RESULTS|LOGS|SANITIZER|HAVE_TORCH|TEST_BINS|NEED_BINS|E2E_BIN|DICE_BIN|BENCH_BINS|CIFAR_[A-Z]+)=' ); step_$name" \
    >"$LOGS/$name.log" 2>&1 </dev/null
  rc=$?
  # A step killed mid-line leaves a partial line: end it, so the next result starts a line.
  [ -s "$RESULTS" ] && [ "$(tail -c 1 "$RESULTS" | od -An -c | tr -d ' ')" != '\n' ] && echo >>"$RESULTS"
  tail -n 15 "$LOGS/$name.log"
  case $rc in
    0) st=PASS ;;
    124|137) st=TIMEOUT ;;
    3) st=SKIP ;;
    *) st="FAIL($rc)" ;;
  esac
  [ "$st" = PASS ] || failed=1
  result kind=step step="$name" status="$st" secs=$((SECONDS - t0)) limit="$limit" log="$LOGS/$name.log"
}

# ---- the steps (each runs in its own bash, under its limit; exit 3 = skipped, says why) ----

step_probe() {
  local ok=0
  if command -v nvidia-smi >/dev/null 2>&1 &&
     smi=$(timeout 10 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv,noheader); then
    echo "nvidia-smi: $smi"
    result kind=probe what=nvidia-smi value="$smi"
  else
    echo "nvidia-smi: not found or failed"
    result kind=probe what=nvidia-smi value="not found or failed"
    ok=1
  fi
  local b missing
  for b in "${TEST_BINS[@]}" "$E2E_BIN" "$DICE_BIN" "${BENCH_BINS[@]}"; do
    if [ ! -x "$b" ]; then
      result kind=probe what=binary binary="$b" missing="not carried"
      continue
    fi
    missing=$(ldd "$b" 2>&1 | awk '/not found/ {print $1}' | tr '\n' ' ')
    if [ -n "$missing" ]; then
      echo "ldd $b: missing $missing"
      result kind=probe what=binary binary="$b" missing="$missing"
      ok=1
    fi
  done
  if [ -x "$E2E_BIN" ]; then
    "$E2E_BIN" --probe --jsonl "$RESULTS" || ok=1
    # One checked kernel under compute-sanitizer: does the sanitizer work on this machine?
    if [ -x "$SANITIZER" ]; then
      local out
      out=$(timeout 60 "$SANITIZER" --tool memcheck --error-exitcode 86 "$E2E_BIN" --probe 2>&1)
      local src=$?
      echo "$out" | tail -n 3
      if [ $src -eq 0 ]; then
        result kind=probe what=compute-sanitizer works=true
      else
        result kind=probe what=compute-sanitizer works=false rc=$src why="$(echo "$out" | grep -m1 -iE 'error|not supported' || echo "exit $src")"
      fi
    else
      result kind=probe what=compute-sanitizer works=false why="not found"
    fi
  else
    ok=1
  fi
  return $ok
}

# test_run NAME BINARY FILTER: one GPU test binary, a JSON line with its counts.
test_run() {
  local name=$1 bin=$2 filter=$3 rc
  if [ ! -x "$bin" ]; then
    result kind=tests binary="$name" status=missing
    return 1
  fi
  "$bin" --gtest_filter="$filter" --gtest_brief=1 --gtest_output="xml:$LOGS/$name.xml" >"$LOGS/$name.out" 2>&1
  rc=$?
  cat "$LOGS/$name.out"
  # --gtest_brief prints only the failures, one line each, and the totals.
  local total passed failed skipped names
  total=$(sed -n 's/^\[==========\] \([0-9]*\) tests\{0,1\} from .* ran\..*/\1/p' "$LOGS/$name.out")
  passed=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) tests\{0,1\}\..*/\1/p' "$LOGS/$name.out")
  names=$(sed -n 's/^\[  FAILED  \] \([A-Za-z_][A-Za-z0-9_/.]*\).*/\1/p' "$LOGS/$name.out" | sort -u)
  failed=$(printf '%s' "$names" | grep -c .)
  skipped=$(( ${total:-0} - ${passed:-0} - failed ))
  names=$(printf '%s\n' "$names" | head -12 | tr '\n' ' ')
  result kind=tests binary="$name" rc=$rc total="${total:-0}" passed="${passed:-0}" failed="$failed" skipped="$skipped" failed_tests="$names"
  return $rc
}

step_tests() {
  local ok=0
  test_run test_kernels "$BUILD/tests/test_kernels" '*Cuda*:*Tc*:MmaFragments*:Precision*:DeviceArena*:DeviceBuffer*' || ok=1
  test_run test_nn "$BUILD/tests/test_nn" 'DenseNetCuda*:ResNetCuda*:WideResNetCuda*' || ok=1
  test_run test_cli "$BUILD/tests/test_cli" 'CliCuda*' || ok=1
  return $ok
}

step_dn_e2e() {
  [ -x "$E2E_BIN" ] || { echo "missing $E2E_BIN"; return 3; }
  "$E2E_BIN" --model densenet101 --modes ours_fp32 --batches 1,256,1024 --jsonl "$RESULTS" || return
  "$E2E_BIN" --model densenet101 --modes ours-gemm_fp32,ours_3xtf32 --batches 1024 --jsonl "$RESULTS"
}

step_dn_torch() {
  [ "$HAVE_TORCH" = 1 ] || { echo "python3 -c 'import torch' failed"; return 3; }
  local ok=0
  python3 "$ROOT/scripts/torch_densenet_bench.py" --cuda --batches 1,256,1024 --seconds 0.3 --jsonl "$RESULTS" || ok=1
  python3 "$ROOT/scripts/torch_densenet_bench.py" --cuda --amp --batches 1,256,1024 --seconds 0.3 --jsonl "$RESULTS" || ok=1
  return $ok
}

step_eval() {
  if [ -z "$ASSETS" ] || [ ! -e "$ASSETS/$CIFAR_CKPT" ] || [ ! -e "$ASSETS/$CIFAR_STAT" ] || [ ! -d "$ASSETS/$CIFAR_TEST" ]; then
    echo "no assets (run --prepare --assets ../shared/assets and carry $BUILD/assets-small)"
    return 3
  fi
  local ood=(--ood gaussian:1000 --ood uniform:1000)
  [ -d "$ASSETS/datasets/ood_datasets/dtd/images" ] && ood+=(--ood "dtd=$ASSETS/datasets/ood_datasets/dtd/images")
  "$DICE_BIN" eval --device cuda --model densenet101 --weights "$ASSETS/$CIFAR_CKPT" \
    --feat-stat "$ASSETS/$CIFAR_STAT" --p 90 --id "cifar10=$ASSETS/$CIFAR_TEST" "${ood[@]}" \
    --batch 256 --quiet --json "$LOGS/eval.json" | tee "$LOGS/eval.out"
  local rc=${PIPESTATUS[0]}
  local wall stages
  wall=$(sed -n 's/^wall time: \([0-9.]*\) s$/\1/p' "$LOGS/eval.out")
  stages=$(sed -n 's/^stages: //p' "$LOGS/eval.out")
  result kind=eval rc=$rc wall_s="${wall:-0}" stages="$stages" device="$(sed -n 's/^device: //p' "$LOGS/eval.out")"
  return $rc
}

step_rn_e2e() {
  [ -x "$E2E_BIN" ] || { echo "missing $E2E_BIN"; return 3; }
  "$E2E_BIN" --model resnet50 \
    --modes ours_fp32,ours_tf32,ours_fp16,ours_bf16,ours-wgmma_fp16,ours-wgmma-ws_fp16,ours-nchw_fp16,cudnn_fp32,cudnn_tf32 \
    --batches 256 --jsonl "$RESULTS"
}

step_rn_torch() {
  [ "$HAVE_TORCH" = 1 ] || { echo "python3 -c 'import torch' failed"; return 3; }
  local ok=0
  python3 "$ROOT/scripts/torch_densenet_bench.py" --model resnet50 --cuda --batches 256 --seconds 0.5 --jsonl "$RESULTS" || ok=1
  python3 "$ROOT/scripts/torch_densenet_bench.py" --model resnet50 --cuda --amp --batches 256 --seconds 0.5 --jsonl "$RESULTS" || ok=1
  return $ok
}

step_sanitize() {
  if ! grep -q '"what": "compute-sanitizer", "works": true' "$RESULTS"; then
    echo "the probe found compute-sanitizer unusable here (or did not run)"
    return 3
  fi
  local ok=0 tool extra rc
  for tool in memcheck racecheck; do
    extra=(--leak-check full)
    [ "$tool" = racecheck ] && extra=(--racecheck-report all)
    "$SANITIZER" --tool "$tool" "${extra[@]}" --error-exitcode 86 "$BUILD/tests/test_kernels" \
      --gtest_filter='Shapes/Conv2dCuda.MatchesNaive/odd_*:Shapes/Conv2dTc.MatchesNaive/odd_*:Shapes/Conv2dNhwcCuda.*/odd_*:NhwcOpsCuda.*:Shapes/PoolCuda.*:Shapes/HeadCuda.*/odd_*' --gtest_brief=1
    rc=$?
    result kind=sanitize tool=$tool target=kernels rc=$rc
    [ $rc -eq 0 ] || ok=1
    "$SANITIZER" --tool "$tool" "${extra[@]}" --error-exitcode 86 "$BUILD/tests/test_nn" \
      --gtest_filter='DenseNetCuda.MatchesCpuDepth22Cifar100' --gtest_brief=1
    rc=$?
    result kind=sanitize tool=$tool target=forward rc=$rc
    [ $rc -eq 0 ] || ok=1
  done
  return $ok
}

# gbench NAME BINARY ARGS...: a Google Benchmark program whose JSON the summary reads (a killed
# run leaves it unterminated; the summary salvages the finished entries).
gbench() {
  local name=$1 bin=$2
  shift 2
  [ -x "$bin" ] || { echo "missing $bin"; return 3; }
  result kind=gbench name="$name" json="$LOGS/$name.json"  # first, so a killed run is still read
  "$bin" --benchmark_counters_tabular=true --benchmark_out="$LOGS/$name.json" --benchmark_out_format=json "$@"
}
step_kernels() { gbench kernels "$BUILD/bench/bench_kernels_cuda" --benchmark_min_time=0.05; }
step_rn_shapes() { gbench rn_shapes "$BUILD/bench/bench_resnet_cuda" --benchmark_filter='^Conv/' --benchmark_min_time=0.05; }
step_dn_layers() { gbench dn_layers "$BUILD/bench/bench_densenet_cuda" --benchmark_filter='layers|pipeline' --benchmark_min_time=0.3; }

# Self-test steps: results, then a step that outlives its limit after writing half a line, then
# more results: the summary must show the first and the last.
step_fake_a() {
  result kind=e2e model=densenet101 impl=ours precision=fp32 batch=256 status=ok ms_median=10 ms_min=9 ms_max=12 images_per_s=25600 images_per_s_min=21333 images_per_s_max=28444 replays=10
  result kind=e2e model=densenet101 impl=torch precision=fp32 batch=256 status=ok ms_median=20 ms_min=19 ms_max=22 images_per_s=12800 images_per_s_min=11636 images_per_s_max=13473 replays=10
}
step_fake_slow() {
  printf '{"kind": "e2e", "model": "resnet50", "impl": "ours", "precisi' >>"$RESULTS"
  sleep 30
}
step_fake_b() {
  result kind=e2e model=resnet50 impl=ours precision=fp16 batch=256 status=ok ms_median=50 ms_min=48 ms_max=55 images_per_s=5120 images_per_s_min=4654 images_per_s_max=5333 replays=12
}

# The fallback when binaries built elsewhere are missing (or do not run there): build them here,
# for sm_80 and sm_90a as the normal build does. It costs device time, so it is a step of its own.
step_build() {
  local missing=() b
  for b in "${NEED_BINS[@]}"; do [ -x "$b" ] || missing+=("$(basename "$b")"); done
  echo "building ${missing[*]} in $BUILD/fallback"
  cmake -S "$ROOT" -B "$BUILD/fallback" -DCMAKE_BUILD_TYPE=Release -DDICE_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES="80;90a" >/dev/null || return 1
  cmake --build "$BUILD/fallback" --target "${missing[@]}" -j"$(nproc)" || return 1
  for b in "${NEED_BINS[@]}"; do
    [ -x "$b" ] || { mkdir -p "$(dirname "$b")" && cp "$BUILD/fallback/${b#"$BUILD"/}" "$b"; } || return 1
  done
}

# ---- run the plan ----
echo "gpu-check: build=$BUILD logs=$LOGS assets=${ASSETS:-none} plan: ${PLAN[*]}"
result kind=run started="$(date -u +%Y-%m-%dT%H:%M:%SZ)" host="$(hostname)" plan="${PLAN[*]}"
if [ "${DICE_GPU_CHECK_SELFTEST:-0}" != 1 ]; then
  for b in "${NEED_BINS[@]}"; do
    if [ ! -x "$b" ]; then
      run_step build 300
      break
    fi
  done
fi
for s in "${PLAN[@]}"; do
  run_step "${s%%:*}" "${s##*:}"
done
result kind=run finished="$(date -u +%Y-%m-%dT%H:%M:%SZ)" secs=$((SECONDS - START))

echo
if command -v python3 >/dev/null 2>&1; then
  python3 "$ROOT/scripts/gpu_check_summary.py" "$RESULTS"
else
  echo "gpu-check: no python3 for the summary; the results are in $RESULTS"
  cat "$RESULTS"
fi
exit $failed
