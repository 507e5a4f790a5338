"""Conv-2, Conv-4 and Conv-6 of Frankle & Carbin (2019), scaled-down VGG nets.

Pairs of 3x3 convolutions (padding 1, ReLU), each pair followed by a 2x2 max
pool, then fully connected layers: Conv-2 is 64,64 / Conv-4 adds 128,128 /
Conv-6 adds 256,256, all with FC 256, 256 and the output layer. Layers are
named `convs.conv<i>`, `fcs.fc<i>` and `output`.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from .common import dropout, image_shape


class ConvNet(nn.Module):
    def __init__(self, input_shape, num_classes: int, convs=(64, 64), fcs=(256, 256), dropout: float = 0.0, **_):
        super().__init__()
        self.dropout = float(dropout)
        convs, fcs = list(convs), list(fcs)
        if not convs or len(convs) % 2:
            raise ValueError(f"model.convs={convs} must list an even, nonzero number of widths (convolutions come in pairs)")
        pools = len(convs) // 2
        c, h, w = image_shape(input_shape, 2**pools, f"{pools} 2x2 max pools")
        widths = [c, *convs]
        self.convs = nn.ModuleDict({f"conv{i}": nn.Conv2d(widths[i], widths[i + 1], 3, padding=1) for i in range(len(convs))})
        flat = convs[-1] * (h >> pools) * (w >> pools)
        widths = [flat, *fcs]
        self.fcs = nn.ModuleDict({f"fc{i}": nn.Linear(widths[i], widths[i + 1]) for i in range(len(fcs))})
        self.output = nn.Linear(widths[-1], num_classes)

    def forward(self, x):
        for i, conv in enumerate(self.convs.values()):
            x = F.relu(conv(x))
            if i % 2:
                x = F.max_pool2d(x, 2)
        x = x.flatten(1)
        for fc in self.fcs.values():
            x = dropout(F.relu(fc(x)), self.dropout, self.training)
        return self.output(x)
