"""The peer engines and the sgemm ceiling of scripts/bench-cpu-peers.sh, run inside its virtual
environment (onnxruntime, openvino and numpy from PyPI; benchmark-only, never a dependency of the
library, the build or the tests). Prints one JSON line per measurement.

  --engine ort|openvino --onnx F --batch B --threads T:
      images/s at batch B (forwards back to back for --seconds after three warm-up runs) and the
      median latency of batch 1 in ms (over --seconds / 2). ORT: intra-op threads T, one inter-op
      thread, sequential execution, all graph optimisations. OpenVINO: T inference threads, one
      stream, f32 inference precision (no bf16 down-conversion on AVX512-BF16 machines), or
      with --precision bf16 its bf16 inference precision (the peer of dice's CPU bf16 mode).
  --table RESULTS.jsonl: prints the script's table from the lines it gathered (ceilings, the
      networks' GFLOP per image, and one line per engine and network).
  --engine sgemm --threads T:
      numpy's float32 matmul of 4096 x 4096 matrices (OpenBLAS in the PyPI wheel), best of
      several, in GFLOP/s: the ceiling a plain GEMM reaches on these cores.
"""
import argparse
import json
import os
import statistics
import time

import numpy as np


def timed_loop(run, seconds, min_iters=3):
    """Seconds per call of run(), over at least `seconds` and `min_iters` calls."""
    n, start = 0, time.perf_counter()
    while True:
        run()
        n += 1
        t = time.perf_counter() - start
        if n >= min_iters and t >= seconds:
            return t / n


def latency_ms(run, seconds):
    times = []
    start = time.perf_counter()
    while len(times) < 5 or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def ort_session(onnx, threads, profile_prefix=None):
    """An ONNX Runtime CPU session as every peers figure runs it (all graph optimizations, one
    sequential stream of `threads` threads); with profile_prefix, its profiler on
    (peers_layers.py)."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if profile_prefix:
        so.enable_profiling = True
        so.profile_file_prefix = profile_prefix
    return ort.InferenceSession(onnx, so, providers=["CPUExecutionProvider"])


def make_runner(engine, onnx, threads, precision="f32"):
    """A function x -> outputs for the engine, compiled once for dynamic batch sizes."""
    if engine == "ort":
        import onnxruntime as ort
        sess = ort_session(onnx, threads)
        return lambda x: sess.run(None, {"input": x}), ort.__version__
    import openvino as ov
    core = ov.Core()
    compiled = core.compile_model(core.read_model(onnx), "CPU", {
        "INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "INFERENCE_PRECISION_HINT": precision,
        "PERFORMANCE_HINT": "LATENCY"})
    request = compiled.create_infer_request()
    return lambda x: request.infer({0: x}), ov.__version__


def table(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    ceil = {r["ceiling"]: r["gflops"] for r in rows if "ceiling" in r}
    gflop = {r["network"]: r["gflop_per_image"] for r in rows if "gflop_per_image" in r}
    print(f"ceilings: fp32 FMA peak {ceil.get('fma_peak', 0):.1f} GFLOP/s, "
          f"OpenBLAS sgemm 4096^3 {ceil.get('sgemm', 0):.1f} GFLOP/s")
    print(f"{'network':<12} {'engine':<27} {'images/s':>9} {'vs ORT':>7} {'batch-1 ms':>10} "
          f"{'GFLOP/s':>8} {'% FMA peak':>10} {'% sgemm':>8}")
    for net in dict.fromkeys(r["network"] for r in rows if "engine" in r):
        eng = [r for r in rows if r.get("network") == net and "engine" in r]
        ort = next((r["images_per_s"] for r in eng if r["engine"].startswith("ONNX Runtime")), 0)
        for r in eng:
            ips = r["images_per_s"]
            g = ips * gflop.get(net, 0)
            lat = f"{r['latency1_ms']:.2f}" if "latency1_ms" in r else "-"
            print(f"{net:<12} {r['engine']:<27} {ips:9.2f} {ips / ort if ort else 0:6.2f}x {lat:>10} "
                  f"{g:8.1f} {100 * g / ceil.get('fma_peak', float('inf')):9.1f}% "
                  f"{100 * g / ceil.get('sgemm', float('inf')):7.1f}%")
    print(f"(GFLOP per image from the plan: {', '.join(f'{k} {v}' for k, v in gflop.items())}; "
          "GFLOP/s counts these direct-convolution FLOPs for every engine, so for dice-cuda, which "
          "runs ResNet's 3x3 convs as Winograd F(4x4,3x3) and F(2x2,3x3) by default (--cpu-conv), it is an "
          "effective rate; the bf16 rows are against the fp32 ceilings too, which bf16's "
          "two-products-per-lane instructions can exceed)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--table", default="")
    ap.add_argument("--engine", choices=["ort", "openvino", "sgemm"])
    ap.add_argument("--onnx", default="")
    ap.add_argument("--side", type=int, default=32)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--precision", choices=["f32", "bf16"], default="f32")
    a = ap.parse_args()
    if a.table:
        table(a.table)
        return
    if a.engine == "sgemm":
        n = 4096
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, n), dtype=np.float32)
        y = rng.standard_normal((n, n), dtype=np.float32)
        x @ y  # warm-up
        best = min(timed_loop(lambda: x @ y, 0.0, 1) for _ in range(4))
        print(json.dumps({"engine": "sgemm", "n": n, "gflops": 2 * n ** 3 / best / 1e9,
                          "numpy": np.__version__}))
        return
    if a.precision != "f32" and a.engine != "openvino":
        ap.error("--precision bf16 is for --engine openvino")
    run, version = make_runner(a.engine, a.onnx, a.threads, a.precision)
    rng = np.random.default_rng(1)
    xb = rng.standard_normal((a.batch, 3, a.side, a.side), dtype=np.float32)
    x1 = np.ascontiguousarray(xb[:1])
    for _ in range(3):
        run(xb)
    per_call = timed_loop(lambda: run(xb), a.seconds)
    for _ in range(3):
        run(x1)
    lat = latency_ms(lambda: run(x1), a.seconds / 2)
    print(json.dumps({"engine": a.engine, "version": version, "precision": a.precision, "batch": a.batch,
                      "images_per_s": a.batch / per_call, "latency1_ms": lat}))


if __name__ == "__main__":
    main()
