#!/usr/bin/python3
"""Offline generator of the WideResNet fixture in tests/fixtures/nn (run with Debian's python3-torch).

The WideResNet of the Outlier Exposure and Energy-based OOD papers (hendrycks/outlier-exposure,
CIFAR/models/wrn.py), transcribed below rather than imported so that the script runs offline; the
module names are kept, so the state_dict keys are exactly that repository's:
  conv1, block{1,2,3}.layer.N.{bn1, conv1, bn2, conv2, convShortcut (first block of a stage whose
  width changes)}, bn1, fc.
  wrn16_1: WRN-16-1 (two blocks per stage, widths 16/32/64; block1 keeps its width, so identity
           and convShortcut residuals both occur; 0.7 MB), 10 classes, dropRate 0, eval mode.
Weights and BatchNorm running statistics are random (make_nn_fixtures.randomize, so BN is never the
identity and BN folding is exercised); saved as the bare state_dict in torch's zip format.

The input is not stored: both sides compute it from its index, over a [2, 3, 32, 32] tensor,
    x[i] = float32(((i * 2654435761) % 2001) / 1000.0 - 1.0)      (i = flat C-order index)
as in make_resnet_fixtures.py. Stored: wrn16_1.features.npy (relu(bn1(out)) avg-pooled 8x8, the
penultimate vector, [2, 64]) and wrn16_1.logits.npy ([2, 10]).

    /usr/bin/python3 scripts/make_wrn_fixtures.py   # rewrites tests/fixtures/nn/wrn16_1*
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_nn_fixtures import randomize  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "nn")


def formula_input(shape):
    # As make_resnet_fixtures.formula_input, not imported from there: that module needs torchvision.
    i = np.arange(int(np.prod(shape)), dtype=np.int64)
    return ((((i * 2654435761) % 2001) / 1000.0) - 1.0).astype(np.float32).reshape(shape)


class BasicBlock(nn.Module):
    """Pre-activation block: bn1-relu, conv1 (stride), bn2-relu, conv2; a 1x1 convShortcut of the
    activated input when the width changes, else the identity of the raw input."""

    def __init__(self, in_planes, out_planes, stride, drop_rate=0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_planes, out_planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.droprate = drop_rate
        self.equalInOut = in_planes == out_planes
        self.convShortcut = None if self.equalInOut else nn.Conv2d(
            in_planes, out_planes, kernel_size=1, stride=stride, padding=0, bias=False)

    def forward(self, x):
        if not self.equalInOut:
            x = self.relu1(self.bn1(x))  # the shortcut then sees the activated input
            out = x
        else:
            out = self.relu1(self.bn1(x))
        out = self.relu2(self.bn2(self.conv1(out)))
        if self.droprate > 0:
            out = F.dropout(out, p=self.droprate, training=self.training)
        out = self.conv2(out)
        return torch.add(x if self.equalInOut else self.convShortcut(x), out)


class NetworkBlock(nn.Module):
    def __init__(self, nb_layers, in_planes, out_planes, stride, drop_rate=0.0):
        super().__init__()
        self.layer = nn.Sequential(*[
            BasicBlock(in_planes if i == 0 else out_planes, out_planes, stride if i == 0 else 1, drop_rate)
            for i in range(nb_layers)])

    def forward(self, x):
        return self.layer(x)


class WideResNet(nn.Module):
    def __init__(self, depth, num_classes, widen_factor=1, drop_rate=0.0):
        super().__init__()
        channels = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        assert (depth - 4) % 6 == 0
        n = (depth - 4) // 6
        self.conv1 = nn.Conv2d(3, channels[0], kernel_size=3, stride=1, padding=1, bias=False)
        self.block1 = NetworkBlock(n, channels[0], channels[1], 1, drop_rate)
        self.block2 = NetworkBlock(n, channels[1], channels[2], 2, drop_rate)
        self.block3 = NetworkBlock(n, channels[2], channels[3], 2, drop_rate)
        self.bn1 = nn.BatchNorm2d(channels[3])
        self.relu = nn.ReLU(inplace=True)
        self.fc = nn.Linear(channels[3], num_classes)
        self.nChannels = channels[3]

    def features(self, x):
        out = self.block3(self.block2(self.block1(self.conv1(x))))
        out = self.relu(self.bn1(out))
        return F.avg_pool2d(out, 8).view(-1, self.nChannels)

    def forward(self, x):
        return self.fc(self.features(x))


def main():
    os.makedirs(OUT, exist_ok=True)
    gen = torch.Generator().manual_seed(2023)
    x = torch.from_numpy(formula_input((2, 3, 32, 32)))
    name = "wrn16_1"
    model = WideResNet(16, 10, widen_factor=1, drop_rate=0.0).eval()
    randomize(model, gen, batches_tracked=7)
    torch.save(model.state_dict(), os.path.join(OUT, name + ".pth"))
    with torch.no_grad():
        feats = model.features(x)
        logits = model.fc(feats)
    np.save(os.path.join(OUT, name + ".features.npy"), feats.numpy().astype(np.float32))
    np.save(os.path.join(OUT, name + ".logits.npy"), logits.numpy().astype(np.float32))
    print(name, "features", tuple(feats.shape), "logits", tuple(logits.shape))


if __name__ == "__main__":
    main()
