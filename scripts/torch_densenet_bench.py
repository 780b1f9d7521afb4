#!/usr/bin/python3
"""PyTorch baseline for the DenseNet-101 speed comparison (the library never needs PyTorch).

Times the reference DenseNet3(100, 10) forward (random weights, eval mode, inference_mode) and
prints one line per batch size:

    torch_images_per_s <value>  (batch=N mode=M device=D torch=V threads=T)

CPU by default with the given number of threads. --cuda times the GPU eager baselines:
  fp32  cudnn.benchmark on, TF32 off for convolutions and matmuls (true fp32, as our kernels);
  tf32  the same with TF32 allowed (--tf32; PyTorch's default for cuDNN convolutions);
  amp   channels_last + autocast fp16 (--amp).
The input is already on the device (as in bench_densenet_cuda's graph benchmark); GPU time is
measured with CUDA events around a run of forwards after a warm-up that lets cudnn.benchmark
pick its algorithms. --batches 1,64,256,1024 times several sizes in one process (one import,
one model); --batch N is the single-size form used by bench-cpu-vs-torch.sh.

--jsonl FILE (with --cuda) uses gpu-check.sh's end-to-end protocol, the one of
bench/bench_e2e_cuda.cu: forwards back to back for at least 200 ms of warm-up, then at least 10
(and as many as fill --seconds) timed one by one with CUDA events; appends one JSON line per batch
size with the median and the min-max spread ("impl": "torch", "precision": fp32|tf32|amp).
"""
import json
import argparse
import contextlib
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
from make_nn_fixtures import DenseNet3  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--batches", type=str, default="", help="comma-separated sizes; overrides --batch")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--seconds", type=float, default=10.0, help="timed seconds per batch size")
    ap.add_argument("--cuda", action="store_true")
    ap.add_argument("--amp", action="store_true", help="channels_last + autocast fp16 (with --cuda)")
    ap.add_argument("--tf32", action="store_true", help="allow TF32 (with --cuda); default off")
    ap.add_argument("--jsonl", default="", help="append gpu-check result lines here (with --cuda)")
    ap.add_argument("--model", default="densenet101", choices=["densenet101", "resnet50"],
                    help="resnet50 = torchvision's ResNet-50 at 224x224")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = "cuda" if a.cuda else "cpu"
    mode = "amp" if a.amp else ("tf32" if a.tf32 else "fp32")
    if a.cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = a.tf32
        torch.backends.cuda.matmul.allow_tf32 = a.tf32
    if a.model == "resnet50":
        import torchvision
        model, side = torchvision.models.resnet50().eval().to(dev), 224
    else:
        model, side = DenseNet3(100, 10).eval().to(dev), 32
    if a.amp:
        model = model.to(memory_format=torch.channels_last)
    batches = [int(b) for b in a.batches.split(",") if b] if a.batches else [a.batch]

    for batch in batches:
        x = torch.randn(batch, 3, side, side, device=dev)
        if a.amp:
            x = x.to(memory_format=torch.channels_last)

        def step():
            # autocast only when asked: torch 1.13's CPU autocast refuses fp16 even when disabled.
            amp = torch.autocast(dev, dtype=torch.float16) if a.amp else contextlib.nullcontext()
            with torch.inference_mode(), amp:
                model(x)

        for _ in range(3):  # warm-up; cudnn.benchmark searches algorithms here
            step()
        if a.cuda and a.jsonl:
            jsonl_timing(a, step, batch, mode)
        elif a.cuda:
            torch.cuda.synchronize()
            # Calibrate a run length of about `seconds`, then time it with events.
            t0 = time.perf_counter()
            step()
            torch.cuda.synchronize()
            per = max(time.perf_counter() - t0, 1e-5)
            n = max(3, int(a.seconds / per))
            start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(n):
                step()
            stop.record()
            stop.synchronize()
            dt = start.elapsed_time(stop) * 1e-3
        else:
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < a.seconds:
                step()
                n += 1
            dt = time.perf_counter() - t0
        print(f"torch_images_per_s {n * batch / dt:.2f}  (batch={batch} mode={mode} device={dev} "
              f"torch={torch.__version__} threads={a.threads})", flush=True)
        del x
        if a.cuda:
            torch.cuda.empty_cache()


def jsonl_timing(a, step, batch, mode):
    """Warm-up of >= 200 ms, then >= 10 forwards (and up to --seconds) timed one by one."""
    torch.cuda.synchronize()
    t0, warm = time.perf_counter(), 0
    while warm < 3 or time.perf_counter() - t0 < 0.2:
        step()
        warm += 1
        if warm % 4 == 0:
            torch.cuda.synchronize()
    torch.cuda.synchronize()
    ms, total = [], 0.0
    while len(ms) < 10 or total < a.seconds * 1e3:
        evs = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
               for _ in range(16)]
        for e0, e1 in evs:
            e0.record()
            step()
            e1.record()
        evs[-1][1].synchronize()
        for e0, e1 in evs:
            ms.append(e0.elapsed_time(e1))
            total += ms[-1]
        if len(ms) >= 2000:
            break
    srt = sorted(ms)
    n = len(srt)
    med = srt[n // 2] if n % 2 else 0.5 * (srt[n // 2 - 1] + srt[n // 2])
    line = {"kind": "e2e", "model": a.model, "impl": "torch", "precision": mode, "batch": batch,
            "device": torch.cuda.get_device_name(), "status": "ok", "ms_median": med,
            "ms_min": srt[0], "ms_max": srt[-1], "images_per_s": batch / med * 1e3,
            "images_per_s_min": batch / srt[-1] * 1e3, "images_per_s_max": batch / srt[0] * 1e3,
            "replays": n, "warmup_forwards": warm, "torch": torch.__version__,
            "channels_last": bool(a.amp)}
    with open(a.jsonl, "a") as f:
        f.write(json.dumps(line) + "\n")
    print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
