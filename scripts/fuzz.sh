#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser (fuzz/*_fuzz.cpp; see fuzz/CMakeLists.txt).
#   scripts/fuzz.sh            20 s per target on the committed corpora (CI: scripts/fuzz.sh 10)
#   scripts/fuzz.sh 600        a long run: 10 minutes per target
#   scripts/fuzz.sh 60 zip npy only the named targets
# Uses the sanitizer build folder of scripts/sanitize.sh, build-asan (clang-14, DICE_SANITIZE=ON
# and DICE_FUZZ=ON: libFuzzer + ASan + UBSan, CUDA emulated, no benchmarks), configuring it the same way
# if it is missing and building only the fuzz targets; replays the committed crash regressions
# (fuzz/regressions/<target>/), then fuzzes each target in turn (one process: the machine is
# shared) from a scratch copy of fuzz/corpus/<target> so the committed corpora stay small. New
# crashing inputs are copied to build-asan/fuzz-crashes/<target>/; the table at the end gives
# executions, coverage (cov: of libFuzzer's final stats) and crashes per target, and the script
# exits 1 if any target crashed. Installs clang-14 and its runtimes (libFuzzer) when missing.
# Env: FUZZ_BUILD (build folder), FUZZ_RSS_MB (2048), FUZZ_MALLOC_MB (largest single allocation,
# default FUZZ_RSS_MB; a small value such as 64 flags sizes taken from a file unchecked: no input
# of a few KB has a reason to ask for more), FUZZ_KEEP_CORPUS=1 starts from and keeps the
# grown corpus in build-asan/fuzz-corpus/<target>/ (so several long runs add up), FUZZ_NO_BUILD=1
# runs the fuzz binaries as they are (several runs side by side must not rebuild one folder).
# TMPDIR=/dev/shm about triples the rate of the CIFAR targets, which write each input to a file.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET="${1:-20}"
shift || true
BUILD="${FUZZ_BUILD:-build-asan}"
RSS_MB="${FUZZ_RSS_MB:-2048}"
ALL_TARGETS=(zip pickle torch npy safetensors json mat cifar_bin cifar_py image)
TARGETS=("${@:-${ALL_TARGETS[@]}}")

scripts/need-packages.sh cmake make clang-14 libclang-rt-14-dev libgtest-dev libstb-dev zlib1g-dev
if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then  # the same configuration as scripts/sanitize.sh
  CC=clang-14 CXX=clang++-14 cmake -S . -B "$BUILD" -DDICE_SANITIZE=ON -DDICE_FUZZ=ON \
    -DDICE_CUDA_EMU=ON -DDICE_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
if [[ "${FUZZ_NO_BUILD:-0}" != 1 ]]; then
  cmake --build "$BUILD" -j"${FUZZ_JOBS:-2}" --target $(printf 'fuzz_%s ' "${TARGETS[@]}") >/dev/null
fi

SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/dice-fuzz.XXXXXX")"
trap 'rm -rf "$SCRATCH"' EXIT
cat fuzz/dict/pickle.dict fuzz/dict/zip.dict >"$SCRATCH/torch.dict"
dict_for() {
  case "$1" in
    zip) echo fuzz/dict/zip.dict ;;
    pickle | cifar_py) echo fuzz/dict/pickle.dict ;;
    torch) echo "$SCRATCH/torch.dict" ;;
    npy) echo fuzz/dict/npy.dict ;;
    json | safetensors) echo fuzz/dict/json.dict ;;
    mat) echo fuzz/dict/mat.dict ;;
    image) echo fuzz/dict/image.dict ;;
    *) echo "" ;;
  esac
}

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
failed=0
rows=()
for t in "${TARGETS[@]}"; do
  bin="$BUILD/fuzz/fuzz_$t"
  work="$SCRATCH/$t"
  mkdir -p "$work/corpus" "$work/artifacts" "$work/tmp"
  [[ -d fuzz/corpus/$t ]] && cp -r fuzz/corpus/"$t"/. "$work/corpus/"
  if [[ "${FUZZ_KEEP_CORPUS:-0}" == 1 && -d $BUILD/fuzz-corpus/$t ]]; then
    cp -r "$BUILD/fuzz-corpus/$t/." "$work/corpus/"
  fi
  crashes=0
  # Replay the committed regressions first: each must run clean.
  if [[ -d fuzz/regressions/$t ]] && compgen -G "fuzz/regressions/$t/*" >/dev/null; then
    if ! TMPDIR="$work/tmp" "$bin" -rss_limit_mb="$RSS_MB" -timeout=10 fuzz/regressions/"$t"/* \
        >"$work/replay.log" 2>&1; then
      echo "fuzz_$t: a committed regression input fails again:" >&2
      tail -30 "$work/replay.log" >&2
      crashes=$((crashes + 1))
    fi
  fi
  dict="$(dict_for "$t")"
  set +e
  TMPDIR="$work/tmp" "$bin" "$work/corpus" -max_total_time="$SECONDS_PER_TARGET" \
    -rss_limit_mb="$RSS_MB" -malloc_limit_mb="${FUZZ_MALLOC_MB:-$RSS_MB}" -timeout=10 \
    -print_final_stats=1 ${dict:+-dict="$dict"} \
    -artifact_prefix="$work/artifacts/" >"$work/fuzz.log" 2>&1
  rc=$?
  set -e
  execs="$(grep -o 'stat::number_of_executed_units: [0-9]*' "$work/fuzz.log" | awk '{print $2}' | tail -1)"
  cov="$(grep -Eo '(DONE|pulse|NEW|REDUCE|INITED).*cov: [0-9]+' "$work/fuzz.log" | grep -Eo 'cov: [0-9]+' | tail -1 | awk '{print $2}')"
  n_art=$(find "$work/artifacts" -type f | wc -l)
  crashes=$((crashes + n_art))
  if ((rc != 0 || n_art > 0)); then
    mkdir -p "$BUILD/fuzz-crashes/$t"
    cp "$work"/artifacts/* "$BUILD/fuzz-crashes/$t/" 2>/dev/null || true
    cp "$work/fuzz.log" "$BUILD/fuzz-crashes/$t/fuzz.log"
    echo "fuzz_$t: exit $rc; inputs and log in $BUILD/fuzz-crashes/$t/" >&2
    grep -m1 -E 'ERROR|SUMMARY|oracle|internal error' "$work/fuzz.log" >&2 || tail -5 "$work/fuzz.log" >&2
    ((crashes == 0)) && crashes=1
  fi
  ((crashes > 0)) && failed=1
  if [[ "${FUZZ_KEEP_CORPUS:-0}" == 1 ]]; then
    mkdir -p "$BUILD/fuzz-corpus/$t" && cp -r "$work/corpus/." "$BUILD/fuzz-corpus/$t/"
  fi
  rows+=("$(printf '%-12s %12s %8s %8s' "$t" "${execs:-?}" "${cov:-?}" "$crashes")")
done

printf '%-12s %12s %8s %8s\n' target executions cov crashes
printf '%s\n' "${rows[@]}"
exit "$failed"
