#!/usr/bin/python3
"""Exports the two benchmark networks to ONNX for the peer engines of scripts/bench-cpu-peers.sh
(benchmark-only; run with Debian's python3-torch, never needed by the library or its tests).

  densenet101: the DICE reference's DenseNet3(100, 10), with the paper's CIFAR-10 weights when
               --weights names checkpoint_100.pth.tar (random weights otherwise), 3x32x32 input;
  resnet50:    torchvision's ResNet-50 with random weights, 3x224x224 input.

The batch dimension is dynamic, so one file serves every batch size. Opset 13.
    /usr/bin/python3 scripts/export_onnx.py --model densenet101 --weights CKPT --out densenet101.onnx
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_nn_fixtures import DenseNet3  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, choices=["densenet101", "resnet50"])
    ap.add_argument("--weights", default="", help="DenseNet: the paper's checkpoint_100.pth.tar")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    torch.manual_seed(0)
    if a.model == "resnet50":
        import torchvision
        model, side = torchvision.models.resnet50(), 224
    else:
        model, side = DenseNet3(100, 10), 32
        if a.weights:
            ck = torch.load(a.weights, map_location="cpu")
            sd = ck.get("state_dict", ck)
            model.load_state_dict({k.replace("module.", "", 1): v for k, v in sd.items()})
    model.eval()
    x = torch.randn(1, 3, side, side)
    with torch.no_grad():
        torch.onnx.export(model, x, a.out, opset_version=13, input_names=["input"],
                          output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    print(f"wrote {a.out} ({a.model}, {os.path.getsize(a.out) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
