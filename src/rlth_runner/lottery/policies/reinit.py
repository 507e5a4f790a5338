"""`policy=reinit`, a control: the pruned mask, but a fresh draw of the
model's own initialisation, seeded by the run's seed and the round."""

from __future__ import annotations

from ... import seeds
from .base import Policy, load_weights


class Reinit(Policy):
    def apply(self, net, round_index: int) -> None:
        import torch

        from ..pruning import masks

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seeds.derive(self.ctx.seed, "reinit", round_index))
            fresh = self.ctx.build_model()
        device = next(net.parameters()).device
        load_weights(net, {k: v.to(device) for k, v in fresh.state_dict().items()})
        masks.apply(net)
