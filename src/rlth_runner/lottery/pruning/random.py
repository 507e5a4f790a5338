"""Random pruning: the control for magnitude pruning, with the same counts."""

from __future__ import annotations

import torch
from torch import nn


def scores(layer: nn.Module, generator: torch.Generator) -> torch.Tensor:
    """Uniform random scores drawn on the CPU from a seeded generator, so the
    choice is the same on every device and in every resumed run."""
    return torch.rand(layer.weight.shape, generator=generator).to(layer.weight.device)
