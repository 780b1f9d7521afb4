#!/usr/bin/python3
"""Full-size ResNet-50 check against PyTorch, for both torch serializations (CI does not run it).

Builds torchvision's resnet50() with random weights and random BatchNorm statistics, saves it into
a temporary folder as a zip checkpoint and as a legacy one (_use_new_zipfile_serialization=False,
the format of the paper's resnet50-19c8e357.pth; ~100 MB each), pre-processes a few images of
imagenet-sample with torchvision (Resize(256), CenterCrop(224), ToTensor, Normalize ImageNet),
runs `dice features` on each checkpoint and prints the max normalized logit difference
max|dice - torch| / max|torch| (the acceptance bound is 1e-4).

Identical inputs: the torchvision tensor itself is saved as x.npy and fed to dice with the data
spec `tensor:x.npy` (no pre-processing on the dice side), so only the networks are compared.

    /usr/bin/python3 scripts/compare_resnet50_torch.py [--dice build/dice] [--images 8]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torchvision
from PIL import Image
from torchvision import transforms

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_nn_fixtures import randomize  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
ASSETS = os.environ.get("DICE_ASSETS", os.path.join(ROOT, "..", "shared", "assets"))


def pick_images(n):
    root = os.path.join(ASSETS, "datasets", "imagenet-sample")
    if not os.path.isdir(root):
        sys.exit(f"{root} not found: set DICE_ASSETS to the shared assets folder")
    paths = []
    for wnid in sorted(os.listdir(root)):
        files = sorted(f for f in os.listdir(os.path.join(root, wnid)) if not f.startswith("."))
        if files:
            paths.append(os.path.join(root, wnid, files[0]))
        if len(paths) == n:
            break
    return paths


def run_dice(dice, weights, spec, out_prefix):
    cmd = [dice, "features", "--model", "resnet50", "--weights", weights, "--data", spec,
           "--out", out_prefix, "--batch", "8", "--quiet"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    return r.returncode, (r.stdout + r.stderr).strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dice", default=os.path.join(ROOT, "build", "dice"))
    ap.add_argument("--images", type=int, default=8)
    args = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))

    model = torchvision.models.resnet50()
    randomize(model, torch.Generator().manual_seed(50), fc_std=0.01)
    model.eval()
    norm = transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
    tail = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(), norm])

    with tempfile.TemporaryDirectory() as tmp:
        xs = [tail(Image.open(p).convert("RGB")) for p in pick_images(args.images)]
        x = torch.stack(xs)
        x_npy = os.path.join(tmp, "x.npy")
        np.save(x_npy, x.numpy().astype(np.float32))
        with torch.no_grad():
            want = model(x).numpy()

        sd = model.state_dict()
        files = {"zip": os.path.join(tmp, "resnet50_zip.pth"),
                 "legacy": os.path.join(tmp, "resnet50_legacy.pth")}
        torch.save(sd, files["zip"])
        torch.save(sd, files["legacy"], _use_new_zipfile_serialization=False)
        print(f"{len(xs)} imagenet-sample images, torch {torch.__version__}, torchvision {torchvision.__version__}")
        worst = 0.0
        for kind, path in files.items():
            prefix = os.path.join(tmp, "dice_" + kind)
            rc, out = run_dice(args.dice, path, "tensor:" + x_npy, prefix)
            how = "tensor:x.npy"
            if rc != 0:
                sys.exit(f"dice failed on {kind}: {out}")
            got = np.load(prefix + ".logits.npy")
            err = float(np.max(np.abs(got - want)) / np.max(np.abs(want)))
            agree = float(np.mean(got.argmax(1) == want.argmax(1)))
            size_mb = os.path.getsize(path) / 1e6
            print(f"{kind:>6} serialization ({size_mb:.1f} MB), input via {how}: max normalized logit "
                  f"difference {err:.3e}, argmax agreement {agree:.0%}")
            worst = max(worst, err)
        print("PASS" if worst < 1e-4 else "FAIL", f"(bound 1e-4, worst {worst:.3e})")
        return 0 if worst < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
