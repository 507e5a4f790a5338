"""Unstructured magnitude pruning."""

from __future__ import annotations

import torch
from torch import nn

from . import masks
from .schedules import target_count


@torch.no_grad()
def prune_layerwise(model: nn.Module, densities: dict[str, float]) -> dict[str, int]:
    """Keep the largest-magnitude surviving weights of each layer, to its target density.

    Pruned weights never come back: they rank below every surviving weight.
    Returns the number of weights removed per layer.
    """
    removed = {}
    for name, layer in masks.masked_layers(model).items():
        mask = getattr(layer, masks.MASK)
        kept_now = int(mask.count_nonzero())
        keep = min(kept_now, target_count(mask.numel(), densities[name]))
        scores = layer.weight.detach().abs().flatten().float()
        scores[mask.flatten() == 0] = -1.0  # below any |w|
        new_mask = torch.zeros(mask.numel(), dtype=mask.dtype, device=mask.device)
        new_mask[torch.topk(scores, keep, sorted=False).indices] = 1
        mask.copy_(new_mask.view_as(mask))
        removed[name] = kept_now - keep
    masks.apply(model)
    return removed
