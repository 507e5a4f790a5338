"""ResNet-20 for CIFAR-10 (He et al., 2016, section 4.2).

A 3x3 stem of 16 channels, three stages of BasicBlocks (16, 32, 64 channels;
the 2nd and 3rd start with stride 2), global average pooling and a linear
output. Depth 6n+2 gives n blocks per stage: 20, 32, 44, 56, 110. A block
whose shape changes uses a 1x1 convolution with batch norm as its shortcut.
Layers are named `stem.conv`, `stages.s<i>.b<j>.conv1`, ..., `output`.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from .common import image_shape


class ConvBN(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return self.bn(self.conv(x))


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = ConvBN(cin, cout, 1, stride) if stride != 1 or cin != cout else None

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.shortcut is None else self.shortcut(x)))


class CifarResNet(nn.Module):
    def __init__(self, input_shape, num_classes: int, depth: int = 20, width: int = 16, **_):
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"model.depth={depth} must be 6n+2 with n >= 1 (20, 32, 44, 56, 110)")
        n = (depth - 2) // 6
        c, _, _ = image_shape(input_shape, 4, "two stride-2 stages")
        self.stem = ConvBN(c, width)
        stages, cin = {}, width
        for i, cout in enumerate([width, 2 * width, 4 * width]):
            blocks = {f"b{j}": BasicBlock(cin if j == 0 else cout, cout, 2 if i > 0 and j == 0 else 1) for j in range(n)}
            stages[f"s{i}"] = nn.ModuleDict(blocks)
            cin = cout
        self.stages = nn.ModuleDict(stages)
        self.output = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = F.relu(self.stem(x))
        for stage in self.stages.values():
            for block in stage.values():
                x = block(x)
        return self.output(F.adaptive_avg_pool2d(x, 1).flatten(1))
