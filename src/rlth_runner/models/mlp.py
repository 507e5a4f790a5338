"""A fully connected ReLU network: input -> hidden layers -> output.

Layers keep their names for life (`input`, `hidden.h0`, `hidden.h1`, ...,
`output`): a layer inserted later gets a fresh name instead of shifting the
others, so masks and checkpoints stay attached to the right weights.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import nn


class MLP(nn.Module):
    def __init__(self, input_shape, num_classes: int, width: int = 128, hidden_layers: int = 1, **_):
        super().__init__()
        self.input = nn.Linear(math.prod(input_shape), width)
        self.hidden = nn.ModuleDict({f"h{i}": nn.Linear(width, width) for i in range(hidden_layers)})
        self.output = nn.Linear(width, num_classes)

    def forward(self, x):
        x = F.relu(self.input(x.flatten(1)))
        for layer in self.hidden.values():
            x = F.relu(layer(x))
        return self.output(x)
