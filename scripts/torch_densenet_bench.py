#!/usr/bin/python3
"""PyTorch baseline for the DenseNet-101 speed comparison (the library never needs PyTorch).

Times the reference DenseNet3(100, 10) forward (random weights, eval mode, inference_mode) at the
given batch size and prints one line `torch_images_per_s <value>`. CPU by default with the given
number of threads; --cuda for the GPU eager baselines (fp32 with cudnn.benchmark, or
--amp channels_last autocast fp16).
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
from make_nn_fixtures import DenseNet3  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--cuda", action="store_true")
    ap.add_argument("--amp", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = "cuda" if a.cuda else "cpu"
    model = DenseNet3(100, 10).eval().to(dev)
    x = torch.randn(a.batch, 3, 32, 32, device=dev)
    if a.cuda:
        torch.backends.cudnn.benchmark = True
    if a.amp:
        model = model.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)

    def step():
        with torch.inference_mode(), torch.autocast(dev, enabled=a.amp, dtype=torch.float16):
            model(x)
        if a.cuda:
            torch.cuda.synchronize()

    for _ in range(3):
        step()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < a.seconds:
        step()
        n += 1
    dt = time.perf_counter() - t0
    print(f"torch_images_per_s {n * a.batch / dt:.2f}  (torch {torch.__version__}, {dev}, batch {a.batch}, "
          f"threads {a.threads}, amp {a.amp})")


if __name__ == "__main__":
    main()
