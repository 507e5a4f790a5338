"""LeNet-300-100 and LeNet-5 (LeCun et al., 1998), as in the lottery-ticket papers."""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import nn

from .common import dropout, image_shape


class LeNet300100(nn.Module):
    """Fully connected: input -> 300 -> 100 -> classes, ReLU. Takes any input, flattened."""

    def __init__(self, input_shape, num_classes: int, dropout: float = 0.0, **_):
        super().__init__()
        self.dropout = float(dropout)
        self.fc1 = nn.Linear(math.prod(input_shape), 300)
        self.fc2 = nn.Linear(300, 100)
        self.output = nn.Linear(100, num_classes)

    def forward(self, x):
        x = dropout(F.relu(self.fc1(x.flatten(1))), self.dropout, self.training)
        x = dropout(F.relu(self.fc2(x)), self.dropout, self.training)
        return self.output(x)


class LeNet5(nn.Module):
    """conv 5x5 (6) -> max pool -> conv 5x5 (16) -> max pool -> 120 -> 84 -> classes.

    The first convolution pads by 2, so a 28x28 MNIST image is treated like
    the 32x32 original; a 32x32 CIFAR image gives a 6x6 map instead of 5x5.
    """

    def __init__(self, input_shape, num_classes: int, dropout: float = 0.0, **_):
        super().__init__()
        self.dropout = float(dropout)
        c, h, w = image_shape(input_shape, 12, "an unpadded 5x5 convolution between two 2x2 max pools")
        self.conv1 = nn.Conv2d(c, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        flat = 16 * ((h // 2 - 4) // 2) * ((w // 2 - 4) // 2)
        self.fc1 = nn.Linear(flat, 120)
        self.fc2 = nn.Linear(120, 84)
        self.output = nn.Linear(84, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = dropout(F.relu(self.fc1(x.flatten(1))), self.dropout, self.training)
        x = dropout(F.relu(self.fc2(x)), self.dropout, self.training)
        return self.output(x)
