"""Per-round measures of how a subnetwork learns (its "juvenile state" in the
RLTH paper's sense), recorded in each round's record (record.py):

* `dist_from_start`, `dist_from_init`: how far training moved the kept
  weights, as the relative L2 distance ||m*(w - w_ref)|| / ||m*w_ref|| over
  every masked layer, from the weights the round started from and from the
  initialisation (the learning distance of "Pruning Close to Home"). A layer the reference
  lacks (one `grow` inserted later) or holds in another shape is left out;
* `steps_to_99`: the first evaluated step whose validation accuracy reaches
  99% of the round's best, a convergence speed;
* `supermask_acc`: the test accuracy of the round's starting weights before
  any training (Zhou et al.'s supermasks: what the mask alone achieves).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..lottery.pruning import masks


def kept_weights(net: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of each masked layer's kept weights (mask applied)."""
    return {name: (layer.weight * getattr(layer, masks.MASK)).detach().clone() for name, layer in masks.masked_layers(net).items()}


def relative_distance(net: nn.Module, reference: dict[str, torch.Tensor]) -> float | None:
    """||m*(w - w_ref)|| / ||m*w_ref|| over the masked layers `reference` also has, in the same shape;
    the current mask applies to both. None when no layer compares or the reference is all zero."""
    moved = size = 0.0
    for name, layer in masks.masked_layers(net).items():
        ref = reference.get(name)
        if ref is None or ref.shape != layer.weight.shape:
            continue
        mask = getattr(layer, masks.MASK)
        ref = ref.to(layer.weight.device) * mask
        moved += float(((layer.weight.detach() * mask - ref) ** 2).sum())
        size += float((ref**2).sum())
    return math.sqrt(moved / size) if size > 0 else None


def untrained_accuracy(net: nn.Module, loader) -> float:
    """Accuracy of `net` as it is, in eval mode (what `supermask_acc` records)."""
    from ..training.early_stop import eval_mode, evaluate

    with eval_mode(net):
        return evaluate(net, loader)[1]


def steps_to_fraction(curve: list[tuple[int, float]], fraction: float = 0.99) -> int | None:
    """The first step of `curve` ((step, accuracy) in step order) at which the accuracy
    reaches `fraction` of the curve's best; None for an empty curve."""
    if not curve:
        return None
    target = fraction * max(acc for _, acc in curve)
    return next(step for step, acc in sorted(curve) if acc >= target)
