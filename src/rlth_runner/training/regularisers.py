"""Terms added to the training loss (train.distance_reg).

`DistanceToStart`: the learning-distance regulariser of "Pruning Close to
Home". The loss gains lambda * sum over the masked layers of
||m * w - m * w_start||^2, where w_start are the weights the round's fit
started from. It pulls the kept weights back towards the round's start, so
the learning distance the round records (`dist_from_start`,
analysis/measures.py) shrinks; pruned weights (m = 0) add nothing and get no
gradient from it.

The starting weights are buffers of the term, so Lightning moves them to the
training device with the module and keeps them in a round's checkpoint: a
fit resumed mid-round pulls towards the round's start, not towards the
weights it resumed from. The runner rebuilds the same start before resuming
anyway (pruning and the policy are deterministic), so the two agree.
"""

from __future__ import annotations

import torch
from torch import nn

from ..lottery.pruning import masks


class DistanceToStart(nn.Module):
    def __init__(self, net: nn.Module, strength: float):
        super().__init__()
        self.strength = strength
        # A plain list, so that the layers (owned by the training module's network) are not registered twice.
        self.layers = list(masks.masked_layers(net).values())
        for i, layer in enumerate(self.layers):
            self.register_buffer(f"start_{i}", (layer.weight * getattr(layer, masks.MASK)).detach().clone())

    def squared_distance(self) -> torch.Tensor:
        """sum over the masked layers of ||m * w - w_start||^2 (w_start is masked already)."""
        total = None
        for i, layer in enumerate(self.layers):
            moved = (layer.weight * getattr(layer, masks.MASK) - getattr(self, f"start_{i}")).pow(2).sum()
            total = moved if total is None else total + moved
        return total if total is not None else torch.zeros(())

    def forward(self) -> torch.Tensor:
        return self.strength * self.squared_distance()


def distance_to_start(net: nn.Module, strength: float) -> DistanceToStart | None:
    """The term for a fit of `net` from the weights it holds now; None when off (strength 0)."""
    return DistanceToStart(net, strength) if strength > 0 else None
