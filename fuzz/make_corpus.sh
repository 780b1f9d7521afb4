#!/usr/bin/env bash
# Regenerates the committed seed corpora in fuzz/corpus/<target>/: small valid files written by
# the project's own writers (fuzz_make_corpus), pickles written by Python's pickle module (plain
# python3, no torch or numpy), and copies of the committed test fixtures (tests/fixtures/formats,
# tests/fixtures/weights, tests/fixtures/data). Never the shared assets: corpora stay small.
# Usage: fuzz/make_corpus.sh [BUILD_DIR]   (default build-asan, the folder of scripts/sanitize.sh
# and scripts/fuzz.sh; builds fuzz_make_corpus there)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-build-asan}"
OUT=fuzz/corpus
FX=tests/fixtures

cmake --build "$BUILD" --target fuzz_make_corpus -j2 >/dev/null
rm -rf "$OUT"
mkdir -p "$OUT"
"$BUILD"/fuzz/fuzz_make_corpus "$OUT"

mkdir -p "$OUT"/{npy,zip,safetensors,torch,pickle,json,cifar_py,image}
cp "$FX"/formats/*.npy "$OUT"/npy/
cp "$FX"/formats/*.zip "$OUT"/zip/
cp "$FX"/formats/*.safetensors "$OUT"/safetensors/
cp "$FX"/weights/*.pt "$OUT"/torch/
cp "$FX"/weights/zip_basic.pt "$FX"/weights/zip_params.pt "$OUT"/zip/
cp "$FX"/weights/expected.json "$OUT"/json/
# Images under 6 KB: one of each kind the decoder handles.
find "$FX"/data/img -type f -size -6k -exec cp {} "$OUT"/image/ \;

python3 - "$OUT" "$FX" <<'PY'
import collections, os, pickle, sys, zipfile
out, fx = sys.argv[1], sys.argv[2]
def put(target, name, data):
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data)
# The object pickle of each zip checkpoint (tensor rebuild calls, persistent ids).
for name in ("zip_basic.pt", "zip_proto4.pt", "zip_params.pt"):
    with zipfile.ZipFile(os.path.join(fx, "weights", name)) as z:
        pkl = [n for n in z.namelist() if n.endswith("/data.pkl")][0]
        put("pickle", name.replace(".pt", ".pkl"), z.read(pkl))
# Plain data in every protocol: containers, memo sharing, ints of every width, strings, floats.
shared = [1, 2]
obj = collections.OrderedDict([("a", [1, -2, 300, 70000, 2**40, -2**70, 1.5, None, True]),
                               ("b", (b"\x00\xff", "\u00e9\U0001f600", shared, shared)),
                               ("c", {frozenset([1]), 2}), ("epoch", 90)])
for proto in range(0, 6):
    put("pickle", "plain_p%d.pkl" % proto, pickle.dumps(obj, protocol=proto))
# CIFAR python batches (first byte: odd = also used as the meta file; see cifar_py_fuzz.cpp).
for sub, name in (("p2", "data_batch_1"), ("p4", "test"), ("p5", "test_batch"), ("py2", "test_batch")):
    with open(os.path.join(fx, "data", "cifar_py", sub, name), "rb") as f:
        put("cifar_py", sub + ".pkl", b"\x00" + f.read())
with open(os.path.join(fx, "data", "cifar_py", "py2", "batches.meta"), "rb") as f:
    put("cifar_py", "meta.pkl", b"\x01" + f.read())
PY
du -sh "$OUT"; for d in "$OUT"/*; do echo "$(basename "$d"): $(ls "$d" | wc -l) files"; done
