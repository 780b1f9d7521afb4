#!/usr/bin/env python3
# ResNet-50 layer by layer against ONNX Runtime, same machine, same minutes: where the time goes
# in each engine. ORT's own profiler (per-node kernel time) and `dice features --profile` (per-step
# time), both the minimum over --runs runs, mapped by layer name (ORT's graph fuses each conv with
# its BN/ReLU/residual add, as our steps do) and printed side by side with per-category sums
# (stem, 1x1, 3x3, downsample). A benchmark-only tool (issue 13's measurements): it needs the
# peers venv of scripts/bench-cpu-peers.sh (onnxruntime, numpy) and an ONNX export, e.g.
#   /usr/bin/python3 scripts/export_onnx.py --model resnet50 --out /tmp/r.onnx
#   build/dice random-weights --model resnet50 --out /tmp/rn50.safetensors
#   ~/.cache/dice-peers-venv/bin/python scripts/peers_layers.py --dice build/dice \
#       --onnx /tmp/r.onnx --weights /tmp/rn50.safetensors --batch 32
# Run it on a quiet machine: a per-layer minimum still moves by 10-20% on a busy or noisy host.
import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers_bench import ort_session  # the same session settings as bench-cpu-peers.sh  # noqa: E402


def ort_layers(onnx_path, x, threads, runs, workdir):
    """{layer name: min ms} from ONNX Runtime's profiler (layer names as our steps spell them)."""
    sess = ort_session(onnx_path, threads, profile_prefix=os.path.join(workdir, "ort"))
    name = sess.get_inputs()[0].name
    for _ in range(runs + 1):  # the first run warms up; every run is profiled, the minimum kept
        sess.run(None, {name: x})
    events = json.load(open(sess.end_profiling()))
    times = collections.defaultdict(list)
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            times[e["name"][: -len("_kernel_time")]].append(e["dur"] / 1000.0)
    out = {}
    for node, ms in times.items():
        layer = ort_node_layer(node)
        if layer:
            out[layer] = out.get(layer, 0.0) + min(ms)
    return out


def ort_node_layer(node):
    """ORT's fused node name -> our step name (None for reorders and the like)."""
    m = re.match(r"/(layer\d)/(layer\d\.\d+)/(relu|relu_1|conv3|downsample/downsample\.0)/", node)
    if m:
        part = {"relu": "conv1", "relu_1": "conv2", "conv3": "conv3",
                "downsample/downsample.0": "downsample"}[m.group(3)]
        return m.group(2) + "." + part
    if node.startswith("/relu/") or node.startswith("/maxpool/"):
        return "stem"  # ours fuses the max pool into the stem
    if node.startswith("/avgpool/") or node.startswith("/fc/"):
        return "head"
    return None


def dice_layers(dice, weights, npy, batch, threads, runs, workdir):
    """{step name: min ms} from `dice features --profile` (the stem's fused pool folded in)."""
    best = {}
    for _ in range(runs):
        r = subprocess.run([dice, "features", "--model", "resnet50", "--weights", weights,
                            "--data", "tensor:" + npy, "--out", os.path.join(workdir, "f"),
                            "--batch", str(batch), "--threads", str(threads), "--profile"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit("peers_layers.py: dice features failed: " + r.stderr.strip().splitlines()[-1])
        run = {}  # this run's steps; the stem's fused pool and any copy step fold into one name
        for line in (r.stdout + r.stderr).splitlines():
            m = re.match(r"\s*\d+ (.+?)\s+([0-9.]+) ms", line)
            if not m:
                continue
            name = m.group(1).replace(" *", "").strip()
            if name.startswith("maxpool"):
                name = "stem"
            elif name.startswith("("):
                name = "other"
            run[name] = run.get(name, 0.0) + float(m.group(2))
        for name, ms in run.items():
            best[name] = min(ms, best.get(name, ms))
    return best


def category(name):
    if name in ("stem", "head", "other"):
        return name
    if name.endswith("conv2"):
        return "3x3"
    if name.endswith("downsample"):
        return "downsample"
    return "1x1"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dice", required=True, help="the dice binary (a Release build)")
    ap.add_argument("--onnx", required=True, help="ResNet-50 exported by scripts/export_onnx.py")
    ap.add_argument("--weights", required=True, help="ResNet-50 weights for dice (any values)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    for path in (a.dice, a.onnx, a.weights):
        if not os.path.exists(path):
            sys.exit(f"peers_layers.py: {path}: no such file (see the usage at the top)")
    import numpy as np
    with tempfile.TemporaryDirectory() as tmp:
        x = np.random.RandomState(0).rand(a.batch, 3, 224, 224).astype(np.float32)
        npy = os.path.join(tmp, "x.npy")
        np.save(npy, x)
        ours = dice_layers(a.dice, a.weights, npy, a.batch, a.threads, a.runs, tmp)
        theirs = ort_layers(a.onnx, x, a.threads, a.runs, tmp)
    print(f"ResNet-50, batch {a.batch}, {a.threads} threads, "
          f"per-layer minimum of {a.runs} runs (ms)")
    print(f"{'layer':24s} {'dice':>9s} {'ORT':>9s} {'dice/ORT':>9s}")
    cats = collections.defaultdict(lambda: [0.0, 0.0])
    order = list(ours)  # our step order; ORT-only names (none expected) last
    for name in sorted(set(ours) | set(theirs),
                       key=lambda n: order.index(n) if n in order else len(order)):
        d, o = ours.get(name, 0.0), theirs.get(name, 0.0)
        cats[category(name)][0] += d
        cats[category(name)][1] += o
        ratio = f"{d / o:9.2f}" if d > 0 and o > 0 else f"{'-':>9s}"
        print(f"{name:24s} {d:9.3f} {o:9.3f} {ratio}")
    print()
    for c in ("stem", "1x1", "3x3", "downsample", "head", "other"):
        if c in cats:
            d, o = cats[c]
            print(f"{c:24s} {d:9.2f} {o:9.2f}")
    total_d = sum(v[0] for v in cats.values())
    total_o = sum(v[1] for v in cats.values())
    print(f"{'sum':24s} {total_d:9.2f} {total_o:9.2f}")


if __name__ == "__main__":
    main()
