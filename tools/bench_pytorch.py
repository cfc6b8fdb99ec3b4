#!/usr/bin/env python3
"""Times PyTorch training steps of the same models bnff trains, for side-by-side ratios.
Called by `bnff bench step --vs-pytorch` (with Debian's python3-torch); prints one JSON object.

Usage: bench_pytorch.py MODEL BATCH IMAGE_SIZE THREADS STEPS WARMUP
"""
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torchvision_models import CIFAR, TORCHVISION, build as build_torchvision  # noqa: E402


class OptionA(nn.Module):
    def __init__(self, before, after, stride):
        super().__init__()
        self.before, self.after, self.stride = before, after, stride

    def forward(self, x):
        return F.pad(x[:, :, :: self.stride, :: self.stride], (0, 0, 0, 0, self.before, self.after))


class CifarBlock(nn.Module):
    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != planes:
            pad = (planes - cin) // 2
            self.shortcut = OptionA(pad, planes - cin - pad, stride)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, depth, num_classes=10):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, cin = [], 16
        for stage in range(3):
            planes = 16 << stage
            for i in range(n):
                layers.append(CifarBlock(cin, planes, 2 if stage > 0 and i == 0 else 1))
                cin = planes
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layers(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class DenseLayer(nn.Module):
    def __init__(self, cin, growth, bottleneck):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        if bottleneck:
            self.conv1 = nn.Conv2d(cin, bottleneck, 1, bias=False)
            self.norm2 = nn.BatchNorm2d(bottleneck)
            self.conv2 = nn.Conv2d(bottleneck, growth, 3, 1, 1, bias=False)
        else:
            self.conv1 = nn.Conv2d(cin, growth, 3, 1, 1, bias=False)
        self.bottleneck = bottleneck

    def forward(self, feats):
        x = torch.cat(feats, 1)
        h = self.conv1(F.relu(self.norm1(x)))
        if self.bottleneck:
            h = self.conv2(F.relu(self.norm2(h)))
        return h


class CifarDenseNet(nn.Module):
    def __init__(self, growth, blocks, init, bottleneck, compression, num_classes=10):
        super().__init__()
        self.conv0 = nn.Conv2d(3, init, 3, 1, 1, bias=False)
        c = init
        self.blocks = nn.ModuleList()
        self.trans = nn.ModuleList()
        for i, n in enumerate(blocks):
            layers = nn.ModuleList()
            for _ in range(n):
                layers.append(DenseLayer(c, growth, bottleneck))
                c += growth
            self.blocks.append(layers)
            if i != len(blocks) - 1:
                out = int(c * compression)
                self.trans.append(nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, out, 1, bias=False), nn.AvgPool2d(2)))
                c = out
        self.norm5 = nn.BatchNorm2d(c)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x):
        h = self.conv0(x)
        for i, layers in enumerate(self.blocks):
            feats = [h]
            for layer in layers:
                feats.append(layer(feats))
            h = torch.cat(feats, 1)
            if i < len(self.trans):
                h = self.trans[i](h)
        h = F.relu(self.norm5(h))
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))


def build(name):
    if name in TORCHVISION or name in CIFAR:
        return build_torchvision(name)
    if name.startswith("resnet"):
        return CifarResNet(int(name[6:]))
    if name == "densenet40":
        return CifarDenseNet(12, [12, 12, 12], 16, None, 1.0)
    if name == "densenet_bc_100":
        return CifarDenseNet(12, [16, 16, 16], 24, 48, 0.5)
    raise SystemExit(f"bench_pytorch: unknown model {name}")


def main():
    name, batch, size, threads, steps, warmup = sys.argv[1], *map(int, sys.argv[2:7])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build(name)
    classes = 1000 if name in TORCHVISION else 10
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, classes, (batch,))
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                      "step_s": {"median": med, "min": min(times), "max": max(times)}, "img_s": batch / med}))


if __name__ == "__main__":
    main()
