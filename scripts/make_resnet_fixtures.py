#!/usr/bin/python3
"""Offline generator of the ResNet fixtures in tests/fixtures/nn (run with Debian's python3-torch).

Builds reduced-width ResNets out of torchvision's own BasicBlock/Bottleneck classes and its
ResNet._make_layer / _forward_impl, so the topology and every state_dict key are exactly
torchvision's (stride on conv2 of a bottleneck, downsample.0 = 1x1 conv, downsample.1 = BN):
  resnet50w4: bottlenecks [3, 4, 6, 3], base width 4 instead of 64 (features 4*8*4 = 128), 10 classes
  resnet18w4: basic blocks [2, 2, 2, 2], base width 4 (features 32), 10 classes
Weights and BatchNorm running statistics are random (not identity) so BN folding is exercised.
Each is saved in both torch serializations: <name>.zip.pth (zip) and <name>.legacy.pth
(_use_new_zipfile_serialization=False, the format of the paper's resnet50-19c8e357.pth).

The input is not stored: both sides compute it from its index, over a [2, 3, 224, 224] tensor,
    x[i] = float32(((i * 2654435761) % 2001) / 1000.0 - 1.0)      (i = flat C-order index)
(tests/nn/resnet_test.cpp computes the same). Stored: <name>.features.npy, <name>.logits.npy.

    /usr/bin/python3 scripts/make_resnet_fixtures.py   # rewrites tests/fixtures/nn/resnet*
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_nn_fixtures import randomize  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "nn")


class SmallResNet(ResNet):
    """torchvision's ResNet with the stem/stage widths scaled: width w gives stages w, 2w, 4w, 8w."""

    def __init__(self, block, layers, width, num_classes):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = width
        self.dilation = 1
        self.groups = 1
        self.base_width = 64  # Bottleneck's inner width = planes * base_width / 64 = planes
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, 2 * width, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 4 * width, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 8 * width, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8 * width * block.expansion, num_classes)

    def features(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)


def formula_input(shape):
    i = np.arange(int(np.prod(shape)), dtype=np.int64)
    return ((((i * 2654435761) % 2001) / 1000.0) - 1.0).astype(np.float32).reshape(shape)


def main():
    os.makedirs(OUT, exist_ok=True)
    gen = torch.Generator().manual_seed(2022)
    x = torch.from_numpy(formula_input((2, 3, 224, 224)))
    for name, block, layers in [("resnet50w4", Bottleneck, [3, 4, 6, 3]),
                                ("resnet18w4", BasicBlock, [2, 2, 2, 2])]:
        model = SmallResNet(block, layers, 4, 10).eval()
        randomize(model, gen, batches_tracked=7)
        sd = model.state_dict()
        torch.save(sd, os.path.join(OUT, name + ".zip.pth"))
        torch.save(sd, os.path.join(OUT, name + ".legacy.pth"), _use_new_zipfile_serialization=False)
        with torch.no_grad():
            feats = model.features(x)
            logits = model.fc(feats)
            assert torch.allclose(logits, model(x), rtol=0, atol=1e-6)
        np.save(os.path.join(OUT, name + ".features.npy"), feats.numpy().astype(np.float32))
        np.save(os.path.join(OUT, name + ".logits.npy"), logits.numpy().astype(np.float32))
        print(name, "features", tuple(feats.shape), "logits", tuple(logits.shape))


if __name__ == "__main__":
    main()
