"""Unstructured magnitude pruning, layer by layer or globally."""

from __future__ import annotations

import torch
from torch import nn

from . import masks
from .density_schedules import target_count
from .ranking import keep_top


def scores(layer: nn.Module, generator=None) -> torch.Tensor:
    return layer.weight.detach().abs()


@torch.no_grad()
def prune_layerwise(model: nn.Module, densities: dict[str, float]) -> dict[str, int]:
    """Keep the largest-magnitude surviving weights of each layer, to its target density.

    Pruned weights never come back: they rank below every surviving weight.
    Returns the number of weights removed per layer.
    """
    layers = masks.masked_layers(model)
    removed = {}
    for name, density in densities.items():
        removed.update(prune_group({name: layers[name]}, density, scores))
    masks.apply(model)
    return removed


@torch.no_grad()
def prune_group(layers: dict[str, nn.Module], density: float, score_fn, generator=None) -> dict[str, int]:
    """Rank the surviving weights of all `layers` together and keep exactly
    floor(total * density + 0.5) of them (one layer: layer-wise pruning;
    several: global pruning). Returns the weights removed per layer."""
    mask_bufs = [getattr(layer, masks.MASK) for layer in layers.values()]
    before = [int(m.count_nonzero()) for m in mask_bufs]
    keep = target_count(sum(m.numel() for m in mask_bufs), density)
    layer_scores = [score_fn(layer, generator) for layer in layers.values()]
    kept = keep_top(layer_scores, [m.bool() for m in mask_bufs], keep)
    for buf, k in zip(mask_bufs, kept):
        buf.copy_(k.to(buf.dtype))
    return {name: b - int(m.count_nonzero()) for name, b, m in zip(layers, before, mask_bufs)}
