"""`policy=random_mask`, a control: the initial values (as `reset`), but under
a random mask with exactly each layer's density.

Each layer's new mask is a seeded random permutation of the pruner's mask
(of its filters, for a structured pruner), so the counts match to the weight.
"""

from __future__ import annotations

from ... import seeds
from ...config import choices
from .reset import Reset


class RandomMask(Reset):
    def apply(self, net, round_index: int) -> None:
        import torch

        from ..pruning import masks

        g = torch.Generator().manual_seed(seeds.derive(self.ctx.seed, "random_mask", round_index))
        structured = choices.PRUNERS[self.ctx.pruner.name].structured
        with torch.no_grad():
            for layer in masks.masked_layers(net).values():
                mask = getattr(layer, masks.MASK)
                if structured:
                    mask.copy_(mask[torch.randperm(mask.shape[0], generator=g).to(mask.device)])
                else:
                    perm = torch.randperm(mask.numel(), generator=g).to(mask.device)
                    mask.copy_(mask.flatten()[perm].view_as(mask))
        super().apply(net, round_index)
