"""Structured L1-norm filter pruning (Li et al.): remove whole output filters.

A filter is one row of the weight (one output channel of a Conv2d, one
output unit of a Linear), scored by the L1 norm of its surviving weights.
Removing it zeroes its entire row of the mask; the bias of a removed filter
is left alone (masks cover weights only), as in the unstructured pruners.
"""

from __future__ import annotations

import torch
from torch import nn

from . import masks
from .density_schedules import target_count
from .ranking import keep_top


@torch.no_grad()
def prune_filters(layer: nn.Module, density: float) -> int:
    """Keep floor(filters * density + 0.5) filters with the largest L1 norm;
    returns the number of weights removed."""
    mask = getattr(layer, masks.MASK)
    before = int(mask.count_nonzero())
    rows = mask.flatten(1)
    l1 = (layer.weight.detach().abs() * mask).flatten(1).sum(1)
    (keep_rows,) = keep_top([l1], [rows.bool().any(1)], target_count(rows.shape[0], density))
    mask.mul_(keep_rows.to(mask.dtype).view(-1, *[1] * (mask.dim() - 1)))
    return before - int(mask.count_nonzero())
