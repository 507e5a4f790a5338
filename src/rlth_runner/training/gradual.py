"""`pruner.schedule=gradual`: Zhu & Gupta's gradual pruning inside a round
("To prune, or not to prune", 2017, Eq. 1). At optimizer steps
t = t0, t0 + Δt, ..., t0 + nΔt (`start_step`, every `frequency`, up to
`end_step` = t0 + nΔt) each layer is pruned to sparsity

    s_t = s_f + (s_i - s_f) (1 - (t - t0) / (nΔt))^power

s_i being `initial_sparsity` and s_f the layer's rate (`sparsity`, or its
`layer_rates` entry), with the pruner's ranking, scope and exact counts
(pruners.prune_to). Pruned weights never return, so the masks are nested.

The prune happens after step t (t = 0: before the first step). Training runs
chunks of steps (step_chunks.py), so `next_step_event` makes a chunk end at
every pruning step. The masks are buffers of the network, saved in a round's
checkpoint; the sparsity is a pure function of t, so a resumed round goes on
with the masks it had and prunes at the same steps.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from ..lottery.pruning import masks, pruners
from .callbacks import EnforceMasks


def sparsity(t: int, s_f: float, g) -> float | None:
    """The target sparsity after step t, or None when t is no pruning step."""
    t0, t_end, dt = g.start_step, g.end_step, g.frequency
    if t < t0 or t > t_end or (t - t0) % dt:
        return None
    return s_f + (g.initial_sparsity - s_f) * (1 - (t - t0) / (t_end - t0)) ** g.power


def fit_callbacks(pcfg, seed: int, k: int) -> list:
    """What pruning needs inside round k's fit: `schedule: gradual`'s callback."""
    return [GradualPruning(pcfg, seed, k)] if pcfg.schedule == "gradual" else []


class GradualPruning(pl.Callback):
    """Prune `pl_module.net` at the schedule's steps of this fit."""

    def __init__(self, pcfg, seed: int, round_index: int):
        from .. import seeds

        self.pcfg, self.g = pcfg, pcfg.gradual
        self.seed = seeds.derive(seed, "prune", round_index)

    def steps(self) -> range:
        return range(self.g.start_step, self.g.end_step + 1, self.g.frequency)

    def next_step_event(self, step: int) -> int | None:  # see training/step_chunks.py
        return next((t for t in self.steps() if t > step), None)

    def on_train_start(self, trainer, pl_module):
        if trainer.global_step == 0:  # not when resuming: the checkpoint holds the masks
            self.prune_at(0, trainer, pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.prune_at(trainer.global_step, trainer, pl_module)

    def prune_at(self, t: int, trainer, pl_module) -> None:
        net = pl_module.net
        targets = {}
        for name in masks.masked_layers(net):
            s = sparsity(t, pruners.layer_rate(name, self.pcfg)[0], self.g)
            targets[name] = None if s is None else 1.0 - s
        if any(d is not None for d in targets.values()):
            # A generator per step (random's draws, ties): a resumed round draws what the first attempt did.
            pruners.prune_to(net, self.pcfg, targets, torch.Generator().manual_seed(self.seed + t))
            for callback in trainer.callbacks:  # its applier leaves out layers that pruned nothing when it was built
                if isinstance(callback, EnforceMasks):
                    callback.apply = masks.MaskApplier(pl_module)
