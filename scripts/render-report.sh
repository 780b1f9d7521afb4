#!/usr/bin/env bash
# Renders an HTML report (dice eval --report) to a PNG with headless Chromium, to look at it the way
# a reader's browser shows it. Not part of CI (it needs Debian's chromium package, installed here
# when missing).
#   scripts/render-report.sh [REPORT.html] [OUT.png] [HEIGHT_PX]
set -euo pipefail
cd "$(dirname "$0")/.."
IN=${1:-cifar10-report.html}
OUT=${2:-${IN%.html}.png}
HEIGHT=${3:-4000}
[ -f "$IN" ] || { echo "render-report: $IN not found; run scripts/run-cifar10.sh first" >&2; exit 1; }
scripts/need-packages.sh chromium
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1240,"$HEIGHT" \
  --screenshot="$(realpath -m "$OUT")" "file://$(realpath "$IN")" 2>/dev/null
echo "render-report: wrote $OUT"
