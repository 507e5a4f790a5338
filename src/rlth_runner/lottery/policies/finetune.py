"""`policy=finetune`: classical pruning. The survivors keep their trained
values and train on with a fresh optimizer; only the mask changes."""

from __future__ import annotations

from .base import Policy


class Finetune(Policy):
    def apply(self, net, round_index: int) -> None:
        from ..pruning import masks

        masks.apply(net)
