"""The RLTH paper's small residual network for CIFAR-10.

    stem:   Conv2d(in, width, 7, padding 3) -> BatchNorm -> ReLU
    blocks: `hidden_layers` BasicBlocks width -> width (stride 1), named
            blocks.b0, blocks.b1, ... for life, like the MLP's hidden layers
    head:   global average pool -> Linear(width, classes)

With zero blocks it is stem + head, the starting point of `policy=grow`.
The paper prunes only the BasicBlock convolutions on CIFAR-10
(`pruner.include=[blocks.*]`).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from .common import image_shape


class BasicBlock(nn.Module):
    """He et al.'s block without downsampling: relu(bn2(conv2(relu(bn1(conv1 x)))) + x)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + x)


class RLTHResNet(nn.Module):
    grow_attr, grow_prefix, grow_inits = "blocks", "b", ("identity", "zero_residual", "random")

    def __init__(self, input_shape, num_classes: int, width: int = 8, hidden_layers: int = 7, stem_kernel: int = 7, **_):
        super().__init__()
        self.width = width
        channels, _, _ = image_shape(input_shape, 1, "a padded stem and global average pooling")
        self.stem = nn.Conv2d(channels, width, stem_kernel, padding=stem_kernel // 2, bias=False)
        self.stem_bn = nn.BatchNorm2d(width)
        self.blocks = nn.ModuleDict({f"b{i}": BasicBlock(width) for i in range(hidden_layers)})
        self.head = nn.Linear(width, num_classes)

    def forward(self, x):
        x = F.relu(self.stem_bn(self.stem(x)))
        for block in self.blocks.values():
            x = block(x)
        return self.head(F.adaptive_avg_pool2d(x, 1).flatten(1))

    def new_layer(self, init: str) -> nn.Module:
        """A BasicBlock for insertion.

        * `identity` (the paper's): both 3x3 kernels Dirac, BatchNorm at its
          defaults. The convolutions pass x through, but the block still adds
          its branch to the skip connection (about 2x in eval mode, since
          fresh BatchNorm statistics are the identity) and, in training mode,
          BatchNorm normalises with batch statistics: the function changes.
        * `zero_residual`: default (Kaiming) kernels and the last BatchNorm's
          gamma and beta at 0, so the branch outputs exactly 0 in both modes
          and the block returns relu(x) = x (its input is a ReLU output): the
          function is preserved exactly. Gamma gets a gradient, so the branch
          starts learning at the first step.
        * `random`: PyTorch's default initialisation.
        """
        if init not in self.grow_inits:
            raise ValueError(f"init={init!r} is not one of {self.grow_inits} for the RLTH ResNet")
        block = BasicBlock(self.width)
        if init == "identity":
            nn.init.dirac_(block.conv1.weight)
            nn.init.dirac_(block.conv2.weight)
        elif init == "zero_residual":
            nn.init.zeros_(block.bn2.weight)
            nn.init.zeros_(block.bn2.bias)
        return block
