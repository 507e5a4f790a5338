"""`policy=reset`: Frankle & Carbin's lottery ticket. After pruning, every
surviving weight goes back to its value at initialisation (init.pt)."""

from __future__ import annotations

from .base import Policy, load_weights


class Reset(Policy):
    starts_from = "init"

    def apply(self, net, round_index: int) -> None:
        from ..pruning import masks

        load_weights(net, self.ctx.run_dir.load_init())
        masks.apply(net)
