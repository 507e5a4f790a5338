"""A fully connected ReLU network: input -> hidden layers -> output.

Layers keep their names for life (`input`, `hidden.h0`, `hidden.h1`, ...,
`output`): a layer inserted later gets a fresh name instead of shifting the
others, so masks and checkpoints stay attached to the right weights. The
`hidden` ModuleDict is the part that `policy=grow` extends (see lottery/growth.py).
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import nn

from .common import dropout


class MLP(nn.Module):
    # What lottery/growth.py needs to know: which ModuleDict grows, how its layers are
    # named, and which initialisations a new layer supports.
    grow_attr, grow_prefix, grow_inits = "hidden", "h", ("identity", "random")

    def __init__(self, input_shape, num_classes: int, width: int = 128, hidden_layers: int = 1, dropout: float = 0.0, **_):
        super().__init__()
        self.width, self.dropout = width, float(dropout)
        self.input = nn.Linear(math.prod(input_shape), width)
        self.hidden = nn.ModuleDict({f"h{i}": nn.Linear(width, width) for i in range(hidden_layers)})
        self.output = nn.Linear(width, num_classes)

    def forward(self, x):
        x = dropout(F.relu(self.input(x.flatten(1))), self.dropout, self.training)
        for layer in self.hidden.values():
            x = dropout(F.relu(layer(x)), self.dropout, self.training)
        return self.output(x)

    def new_layer(self, init: str) -> nn.Module:
        """A width x width hidden layer for insertion.

        `identity` (weight I, bias 0) leaves the network's function unchanged:
        every hidden layer's input is the output of a ReLU, so it is >= 0 and
        ReLU(I x + 0) = x. `random` is PyTorch's default Linear initialisation.
        """
        if init not in self.grow_inits:
            raise ValueError(f"init={init!r} is not one of {self.grow_inits} for an MLP")
        layer = nn.Linear(self.width, self.width)
        if init == "identity":
            nn.init.eye_(layer.weight)
            nn.init.zeros_(layer.bias)
        return layer
