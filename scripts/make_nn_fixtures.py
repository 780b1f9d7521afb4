#!/usr/bin/python3
"""Offline generator of the network fixtures in tests/fixtures/nn (run with Debian's python3-torch).

Builds the DICE reference's DenseNet3 (DenseNet-BC, bottleneck, reduction 0.5, written out below
as the reference defines it) at a reduced depth with random weights and random BatchNorm
statistics, saves it as a torch zip checkpoint in the reference's {'epoch', 'state_dict'} form,
and records PyTorch's features and logits on random inputs. The C++ tests feed the same inputs
and compare (tests/nn/densenet_test.cpp). Nothing here is derived from the paper's checkpoints.

    /usr/bin/python3 scripts/make_nn_fixtures.py   # rewrites tests/fixtures/nn/*
"""
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "nn")


class Bottleneck(nn.Module):
    def __init__(self, in_planes, out_planes):
        super().__init__()
        inter = out_planes * 4
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_planes, inter, kernel_size=1, stride=1, padding=0, bias=False)
        self.bn2 = nn.BatchNorm2d(inter)
        self.conv2 = nn.Conv2d(inter, out_planes, kernel_size=3, stride=1, padding=1, bias=False)

    def forward(self, x):
        out = self.conv1(self.relu(self.bn1(x)))
        out = self.conv2(self.relu(self.bn2(out)))
        return torch.cat([x, out], 1)


class Transition(nn.Module):
    def __init__(self, in_planes, out_planes):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=1, padding=0, bias=False)

    def forward(self, x):
        return F.avg_pool2d(self.conv1(self.relu(self.bn1(x))), 2)


class DenseBlock(nn.Module):
    def __init__(self, nb_layers, in_planes, growth):
        super().__init__()
        self.layer = nn.Sequential(*[Bottleneck(in_planes + i * growth, growth) for i in range(nb_layers)])

    def forward(self, x):
        return self.layer(x)


class DenseNet3(nn.Module):
    def __init__(self, depth, num_classes, growth=12, reduction=0.5):
        super().__init__()
        in_planes = 2 * growth
        n = (depth - 4) // 6
        self.conv1 = nn.Conv2d(3, in_planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.block1 = DenseBlock(n, in_planes, growth)
        in_planes = in_planes + n * growth
        self.trans1 = Transition(in_planes, int(np.floor(in_planes * reduction)))
        in_planes = int(np.floor(in_planes * reduction))
        self.block2 = DenseBlock(n, in_planes, growth)
        in_planes = in_planes + n * growth
        self.trans2 = Transition(in_planes, int(np.floor(in_planes * reduction)))
        in_planes = int(np.floor(in_planes * reduction))
        self.block3 = DenseBlock(n, in_planes, growth)
        in_planes = in_planes + n * growth
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.relu = nn.ReLU(inplace=True)
        self.fc = nn.Linear(in_planes, num_classes)
        self.in_planes = in_planes

    def features(self, x):
        out = self.conv1(x)
        out = self.trans1(self.block1(out))
        out = self.trans2(self.block2(out))
        out = self.block3(out)
        out = self.relu(self.bn1(out))
        out = F.avg_pool2d(out, 8)
        return out.view(-1, self.in_planes)

    def forward(self, x):
        return self.fc(self.features(x))


def randomize(model, gen, fc_std=0.1, batches_tracked=None):
    """Random weights and random BatchNorm statistics (so BN is never the identity). Shared by
    make_resnet_fixtures.py and compare_resnet50_torch.py; the draw order fixes the fixtures."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.weight.data = torch.rand(c, generator=gen) * 0.5 + 0.75
            m.bias.data = torch.randn(c, generator=gen) * 0.1
            m.running_mean.data = torch.randn(c, generator=gen) * 0.2
            m.running_var.data = torch.rand(c, generator=gen) * 0.5 + 0.5
            if batches_tracked is not None:
                m.num_batches_tracked.fill_(batches_tracked)
        elif isinstance(m, nn.Conv2d):
            fan_in = m.weight[0].numel()
            m.weight.data = torch.randn(m.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5
        elif isinstance(m, nn.Linear):
            m.weight.data = torch.randn(m.weight.shape, generator=gen) * fc_std
            m.bias.data = torch.randn(m.bias.shape, generator=gen) * fc_std


def main():
    os.makedirs(OUT, exist_ok=True)
    gen = torch.Generator().manual_seed(1234)
    for depth, classes in [(40, 10), (22, 100)]:
        model = DenseNet3(depth, classes).eval()
        randomize(model, gen)
        name = f"densenet{depth}_c{classes}"
        torch.save({"epoch": 1, "state_dict": model.state_dict()}, os.path.join(OUT, name + ".pth.tar"))
        x = torch.randn(3, 3, 32, 32, generator=gen)
        with torch.no_grad():
            feats = model.features(x)
            logits = model.fc(feats)
        np.save(os.path.join(OUT, name + ".input.npy"), x.numpy().astype(np.float32))
        np.save(os.path.join(OUT, name + ".features.npy"), feats.numpy().astype(np.float32))
        np.save(os.path.join(OUT, name + ".logits.npy"), logits.numpy().astype(np.float32))
        print(name, "features", tuple(feats.shape), "logits", tuple(logits.shape))


if __name__ == "__main__":
    main()
