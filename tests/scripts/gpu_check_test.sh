#!/usr/bin/env bash
# Checks scripts/gpu-check.sh without a GPU: the default plan fits 6 minutes of limits, and with
# fake steps (DICE_GPU_CHECK_SELFTEST=1), one of which outlives its limit after writing half a
# result line, the run reports that step as TIMEOUT, exits non-zero, and still prints the tables
# of the steps that finished (with the ratio of two same-precision runs).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
fail() { echo "FAIL: $*"; exit 1; }

plan=$("$ROOT/scripts/gpu-check.sh" --plan) || fail "--plan exited $?"
echo "$plan"
total=$(echo "$plan" | sed -n 's/^total: \([0-9]*\) s.*/\1/p')
[ -n "$total" ] || fail "--plan printed no total"
[ "$total" -le 360 ] || fail "default plan has $total s of limits (> 360)"
echo "$plan" | grep -q '^probe ' || fail "the plan does not start with the probe"
full=$("$ROOT/scripts/gpu-check.sh" --plan --full | sed -n 's/^total: \([0-9]*\) s.*/\1/p')
[ "$full" -gt "$total" ] || fail "--full adds no step"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
t0=$SECONDS
out=$(DICE_GPU_CHECK_SELFTEST=1 DICE_GPU_CHECK_LOGS="$tmp/logs" "$ROOT/scripts/gpu-check.sh" "$tmp/build" 2>&1)
rc=$?
echo "$out"
[ $rc -ne 0 ] || fail "a timed-out step must make the run fail"
[ $((SECONDS - t0)) -lt 25 ] || fail "the slow step was not cut at its limit"
echo "$out" | grep -Eq '^fake_slow +TIMEOUT' || fail "the slow step is not reported as TIMEOUT"
echo "$out" | grep -Eq '^fake_a +PASS' || fail "step fake_a missing from the summary"
echo "$out" | grep -Eq '^fake_b +PASS' || fail "step fake_b (after the killed one) missing"
echo "$out" | grep -q '25600 \[21333-28444\]' || fail "DenseNet table of fake_a missing"
echo "$out" | grep -Eq "2\.00x .*ours fp32 / torch fp32" || fail "ours/torch fp32 ratio missing"
echo "$out" | grep -q '5120 \[4654-5333\]' || fail "ResNet table of fake_b missing"
echo "$out" | grep -q 'partial line' || fail "the killed step's half line was not reported"
echo "gpu_check_test: 1 passed, 0 failed"
