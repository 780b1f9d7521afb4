#!/usr/bin/env python3
"""The tables of scripts/gpu-check.sh, printed from its results file (one JSON line per result).

    python3 scripts/gpu_check_summary.py BUILD/gpu-check/results.jsonl

Reads whatever lines are whole: a step killed at its limit may leave half a line, which is skipped
(and counted), so the steps that finished still make their tables. Google Benchmark JSON files of
the --full steps are read the same way: a killed run's unterminated file is salvaged up to its
last complete entry. Ratios are printed only between runs of the same precision: ours fp32 vs
PyTorch fp32 (TF32 off) and vs cuDNN fp32, ours tf32 vs cuDNN tf32, ours fp16 vs PyTorch's
channels_last AMP (fp16). Standard library only.
"""
import json
import os
import sys


def read_lines(path):
    rows, bad = [], 0
    with open(path, errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except ValueError:
                bad += 1
                continue
            if isinstance(row, dict):
                rows.append(row)
            else:
                bad += 1
    return rows, bad


def load_gbench(path):
    """Benchmarks of a Google Benchmark JSON file, also when the run was killed mid-file."""
    try:
        text = open(path, errors="replace").read()
    except OSError:
        return []
    try:
        return json.loads(text).get("benchmarks", [])
    except ValueError:
        pass
    # Unterminated: keep everything up to the last entry that closed, then close the list.
    cut = text.rfind("\n    }")
    while cut > 0:
        try:
            return json.loads(text[:cut + 6] + "\n  ]\n}").get("benchmarks", [])
        except ValueError:
            cut = text.rfind("\n    }", 0, cut)
    return []


def fmt_rate(r):
    if not r or r.get("status") != "ok":
        return "-" if not r else r.get("status", "?")
    return "%.0f [%.0f-%.0f]" % (r["images_per_s"], r["images_per_s_min"], r["images_per_s_max"])


def ratio(a, b):
    if a and b and a.get("status") == "ok" and b.get("status") == "ok" and b["images_per_s"] > 0:
        return "%.2fx" % (a["images_per_s"] / b["images_per_s"])
    return "-"


def e2e_table(rows, model, batches, modes, ratios):
    """One row per (impl, precision), one column per batch size, then the same-precision ratios."""
    e2e = {}
    for r in rows:
        if r.get("kind") == "e2e" and r.get("model") == model:
            key = (r.get("impl"), r.get("precision"))
            if r.get("status") == "ok":
                e2e[key + (r.get("batch"),)] = r
            else:  # wrong or failed: the mode has no numbers at any batch
                for b in batches:
                    e2e[key + (b,)] = r
    if not e2e:
        return
    print()
    print("%s end to end, images/s: median [min-max] of >= 10 timed forwards, input on the GPU" % model)
    print("%-15s" % "run" + "".join(" %22s" % ("batch %d" % b) for b in batches))
    for impl, prec in modes:
        print("%-15s" % (impl + " " + prec) + "".join(" %22s" % fmt_rate(e2e.get((impl, prec, b))) for b in batches))
    for x, y in ratios:
        cells = [ratio(e2e.get(x + (b,)), e2e.get(y + (b,))) for b in batches]
        if any(c != "-" for c in cells):
            print("%-15s" % "" + "".join(" %22s" % c for c in cells) + "   %s %s / %s %s" % (x + y))
    for (impl, prec, _), r in sorted(e2e.items()):
        if r.get("status") != "ok" and r.get("batch") in (0, None) and _ == batches[0]:
            print("  %s %s: %s: %s" % (impl, prec, r.get("status"),
                                       r.get("error", "normalized error %s > %s" % (r.get("check_err"), r.get("check_tol")))))
    dev = next((r.get("device") for r in e2e.values() if r.get("device")), None)
    if dev:
        print("  device: %s" % dev)


def kernels_table(benchmarks):
    rows, order = {}, []
    for b in benchmarks:
        parts = b.get("name", "").split("/")
        if len(parts) < 3:
            continue
        impl, shape, batch = parts[0], parts[1], int(parts[2].split(":")[-1])
        if (shape, batch) not in rows:
            order.append((shape, batch))
        rows.setdefault((shape, batch), {})[impl] = b
    if not rows:
        return
    print()
    print("DenseNet-101 convolutions (fp32, NCHW), TFLOP/s; fused = ours with the network's prologue (conv2d_thin where")
    print("it applies), gemm = the network's conv forced onto the implicit GEMM, ours/gemm = (fused, else plain) / gemm;")
    print("plain = ours without the fused prologue, as cuDNN runs")
    print("%-24s %6s %5s %8s %8s %10s %8s %8s %11s" % ("shape", "batch", "count", "fused", "gemm", "ours/gemm",
                                                    "plain", "cudnn", "plain/cudnn"))
    tot = {}
    for shape, batch in order:
        r = rows[(shape, batch)]

        def tf(k):
            b = r.get(k)
            return None if not b or b.get("error_occurred") else b.get("TFLOP/s")
        f, g, p, c = tf("conv2d_cuda_fused"), tf("conv2d_gemm_fused"), tf("conv2d_cuda_plain"), tf("conv2d_cudnn")
        cnt = next((int(b.get("count", 0)) for b in r.values() if b.get("count")), 0)
        print("%-24s %6d %5d %8s %8s %10s %8s %8s %11s" % (
            shape, batch, cnt, "%.2f" % f if f else "-", "%.2f" % g if g else "-",
            "%.2fx" % ((f or p) / g) if (f or p) and g else "-", "%.2f" % p if p else "-", "%.2f" % c if c else "-",
            "%.2fx" % (p / c) if p and c else "-"))
        for k in ("conv2d_cuda_plain", "conv2d_cudnn"):
            b = r.get(k)
            if b and not b.get("error_occurred"):
                tot.setdefault((batch, k), 0.0)
                tot[(batch, k)] += cnt * b.get("real_time", 0.0)
    for batch in sorted({b for b, _ in tot}):
        o, c = tot.get((batch, "conv2d_cuda_plain")), tot.get((batch, "conv2d_cudnn"))
        if o and c:
            print("all 99 convolutions at batch %d (count x time): ours plain %.0f us, cuDNN %.0f us, ours at %.2fx cuDNN's speed"
                  % (batch, o, c, c / o))


def rn_shapes_table(benchmarks):
    conv, order = {}, []
    for b in benchmarks:
        parts = b.get("name", "").split("/")
        if parts[0] != "Conv" or len(parts) < 3:
            continue
        if parts[1] not in order:
            order.append(parts[1])
        conv[(parts[1], parts[2])] = None if b.get("error_occurred") else b
    if not conv:
        return
    precs = ["fp32", "tf32", "fp16", "bf16"]
    print()
    print("ResNet-50 convolutions at batch 256, TFLOP/s: ours (o_, NCHW float in and out, bias+ReLU epilogue)")
    print("vs cuDNN (c_: NCHW float for fp32/tf32, NHWC half for fp16/bf16, bias+ReLU fused), ratio ours/cuDNN")
    print("%-26s %3s " % ("shape", "n") + " ".join("%6s %6s %6s" % ("o_" + p, "c_" + p, "ratio") for p in precs))

    def tf(v):
        return "%6.1f" % v["TFLOP/s"] if v else "%6s" % "-"
    for s in order:
        cnt = next((int(v.get("count", 0)) for (sh, _), v in conv.items() if sh == s and v), 0)
        cells = []
        for p in precs:
            o, c = conv.get((s, "ours_" + p)), conv.get((s, "cudnn_" + p))
            cells.append("%s %s %6s" % (tf(o), tf(c), "%.2fx" % (o["TFLOP/s"] / c["TFLOP/s"]) if o and c and c["TFLOP/s"] else "-"))
        print("%-26s %3d " % (s, cnt) + " ".join(cells))
    for p in precs:
        o = [conv.get((s, "ours_" + p)) for s in order]
        c = [conv.get((s, "cudnn_" + p)) for s in order]
        if o and all(o) and all(c):
            to = sum(v.get("count", 0) * v.get("real_time", 0.0) for v in o)
            tc = sum(v.get("count", 0) * v.get("real_time", 0.0) for v in c)
            print("all 53 convolutions, %s: ours %.0f us, cuDNN %.0f us, ours at %.2fx cuDNN's speed" % (p, to, tc, tc / to))


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    rows, bad = read_lines(sys.argv[1])

    print("==== gpu-check summary ====")
    for r in rows:
        if r.get("kind") == "probe":
            print("probe: " + ", ".join("%s=%s" % (k, v) for k, v in r.items() if k != "kind"))
    steps = [r for r in rows if r.get("kind") == "step"]
    print("%-10s %-9s %5s %6s  %s" % ("step", "status", "secs", "limit", "log"))
    for r in steps:
        print("%-10s %-9s %5s %6s  %s" % (r.get("step"), r.get("status"), r.get("secs"), r.get("limit"), r.get("log", "")))
    fin = [r for r in rows if r.get("kind") == "run" and "secs" in r]
    if fin:
        print("total: %s s" % fin[-1]["secs"])
    if bad:
        print("(%d partial line%s from killed steps skipped)" % (bad, "" if bad == 1 else "s"))

    tests = [r for r in rows if r.get("kind") == "tests"]
    if tests:
        print()
        print("GPU tests (DICE_REQUIRE_GPU=1: a test that cannot run fails)")
        for r in tests:
            print("  %-12s %s tests: passed %s, failed %s, skipped %s%s" % (
                r.get("binary"), r.get("total", "?"), r.get("passed", "?"), r.get("failed", "?"),
                r.get("skipped", "?"), ("; failed: " + r["failed_tests"]) if r.get("failed_tests") else ""))

    e2e_table(rows, "densenet101", [1, 256, 1024],
              [("ours", "fp32"), ("ours-gemm", "fp32"), ("ours", "3xtf32"), ("torch", "fp32"), ("torch", "amp")],
              [(("ours", "fp32"), ("torch", "fp32")), (("ours", "fp32"), ("ours-gemm", "fp32")),
               (("ours", "3xtf32"), ("ours", "fp32")), (("ours", "3xtf32"), ("torch", "fp32"))])
    e2e_table(rows, "resnet50", [256],
              [("ours", "fp32"), ("ours", "tf32"), ("ours", "fp16"), ("ours", "bf16"),
               ("ours-wgmma", "fp16"), ("ours-wgmma-ws", "fp16"), ("ours-nchw", "fp16"), ("cudnn", "fp32"), ("cudnn", "tf32"), ("torch", "fp32"), ("torch", "amp")],
              [(("ours", "fp32"), ("cudnn", "fp32")), (("ours", "fp32"), ("torch", "fp32")),
               (("ours", "tf32"), ("cudnn", "tf32")), (("ours", "fp16"), ("torch", "amp")),
               (("ours", "fp16"), ("ours-nchw", "fp16")), (("ours-wgmma", "fp16"), ("ours", "fp16")),
               (("ours-wgmma-ws", "fp16"), ("ours", "fp16")), (("ours-wgmma", "fp16"), ("torch", "amp")),
               (("ours-wgmma-ws", "fp16"), ("torch", "amp"))])

    for r in rows:
        if r.get("kind") == "eval":
            print()
            print("CIFAR-10 dice eval --device cuda: wall %s s; %s (rc %s)" % (r.get("wall_s"), r.get("stages"), r.get("rc")))
        elif r.get("kind") == "sanitize":
            print("compute-sanitizer %s on %s: %s" % (r.get("tool"), r.get("target"), "clean" if r.get("rc") == 0 else "rc %s" % r.get("rc")))
    for r in rows:
        if r.get("kind") == "gbench" and os.path.exists(str(r.get("json"))):
            b = load_gbench(r["json"])
            if r.get("name") == "kernels":
                kernels_table(b)
            elif r.get("name") == "rn_shapes":
                rn_shapes_table(b)
            elif r.get("name") == "dn_layers":
                for x in b:
                    if not x.get("error_occurred"):
                        ms = ", ".join("%s %.3f" % (k[:-3], v) for k, v in sorted(x.items()) if k.endswith("_ms"))
                        print("%s: %.0f images/s%s" % (x["name"], x.get("images/s", 0), ("; ms: " + ms) if ms else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
