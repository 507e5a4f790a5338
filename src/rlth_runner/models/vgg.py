"""VGG-16 and VGG-19 for CIFAR-10, as in the lottery-ticket literature.

3x3 convolutions with batch norm and ReLU, max pools between stages, then
global average pooling and a single linear output layer (the CIFAR variant
has no 4096-wide classifier). With four pools a 32x32 image ends at 2x2,
averaged to 1x1. Layers are named `blocks.b<i>.conv`, `blocks.b<i>.bn`, `output`.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from .common import image_shape

# widths per stage; a 2x2 max pool follows every stage but the last
PLANS = {
    16: [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]],
    19: [[64, 64], [128, 128], [256, 256, 256, 256], [512, 512, 512, 512], [512, 512, 512, 512]],
}


class ConvBN(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class VGG(nn.Module):
    def __init__(self, input_shape, num_classes: int, depth: int = 16, **_):
        super().__init__()
        if depth not in PLANS:
            raise ValueError(f"model.depth={depth} is not one of {sorted(PLANS)}")
        stages = PLANS[depth]
        pools = len(stages) - 1
        c, _, _ = image_shape(input_shape, 2**pools, f"{pools} 2x2 max pools")
        blocks, self.pool_after = {}, set()
        for stage in stages:
            for width in stage:
                blocks[f"b{len(blocks)}"] = ConvBN(c, width)
                c = width
            self.pool_after.add(f"b{len(blocks) - 1}")
        self.pool_after.discard(f"b{len(blocks) - 1}")
        self.blocks = nn.ModuleDict(blocks)
        self.output = nn.Linear(c, num_classes)

    def forward(self, x):
        for name, block in self.blocks.items():
            x = block(x)
            if name in self.pool_after:
                x = F.max_pool2d(x, 2)
        return self.output(F.adaptive_avg_pool2d(x, 1).flatten(1))
