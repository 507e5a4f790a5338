"""Callbacks for what must happen inside every fit: masks kept, a NaN loss
stopped, the best validation noted, the round's step count kept. The
progress bar (progress.py) and the in-round checkpoint (round_checkpoint.py)
have modules of their own."""

from __future__ import annotations

import math

import pytorch_lightning as pl

from ..lottery.pruning.masks import MaskApplier
from .lightning_internals import limit_steps_of_running_fit


class NonFiniteLossError(RuntimeError):
    pass


class EnforceMasks(pl.Callback):
    """Re-zero pruned weights after every optimizer step.

    Adam's moment estimates keep moving a pruned weight even when its
    gradient is zero, so masking once before training is not enough. The
    masks are applied from the optimizer's own step post-hook, which runs
    after every step however the module groups its steps into loop
    iterations (see module.py), with one fused multiply per step.
    """

    def __init__(self):
        self.handles = []

    def on_train_start(self, trainer, pl_module):
        self.apply = MaskApplier(pl_module)
        self.apply()
        self.handles = [opt.register_step_post_hook(lambda *_: self.apply()) for opt in trainer.optimizers]

    def on_train_end(self, trainer, pl_module):
        for handle in self.handles:
            handle.remove()
        self.handles = []

    def on_exception(self, trainer, pl_module, exception):
        self.on_train_end(trainer, pl_module)


class FiniteLossGuard(pl.Callback):
    """Stop the run with a clear error when the training loss is NaN or infinite.

    Checked once per chunk of steps (training/step_chunks.py) on the chunk's mean
    loss, which is not finite if any step's loss was not, so the host does not
    wait on the device every step. Under DDP the ranks' losses are summed
    first, so every rank stops at the same step (one stopping alone would leave
    the others waiting in the next gradient reduction).
    """

    def __init__(self, round_index: int):
        self.round_index = round_index

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if not outputs:
            return
        loss = outputs["loss"]
        if trainer.world_size > 1:
            loss = trainer.strategy.reduce(loss.detach().clone(), reduce_op="sum")
        loss = float(loss)
        if not math.isfinite(loss):
            raise NonFiniteLossError(
                f"training loss became {loss} by step {trainer.global_step} of round {self.round_index}; "
                "lower train.lr or check the data. Completed rounds are saved, and re-running resumes after them."
            )


class BestValidation(pl.Callback):
    """The best validation accuracy seen during this fit, and (step, accuracy) at each validation."""

    def __init__(self, monitor: str = "val/acc"):
        self.monitor, self.best, self.curve = monitor, None, []

    def state_dict(self):  # kept in a round's checkpoint
        return {"best": self.best, "curve": self.curve}

    def load_state_dict(self, state):
        self.best, self.curve = state["best"], [tuple(point) for point in state.get("curve", [])]

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        value = float(trainer.callback_metrics[self.monitor])
        self.best = value if self.best is None else max(self.best, value)
        self.curve.append((trainer.global_step, value))


class StopAtStep(pl.Callback):
    """End the fit after `steps` optimizer steps, which need not be whole epochs.

    Lightning (2.6) resumes a fit that has a step limit (`max_steps`) from an
    epoch-end checkpoint as if it had stopped inside that epoch: it runs the
    epoch's end again and counts the epoch twice, so later epochs get another
    batch order and the last one is lost. The Trainer is therefore built with
    `max_epochs` alone, which restores like any epoch-based fit, and the limit
    is set when training starts (before the progress bar reads it), through
    Lightning's internal loop (lightning_internals.py).
    """

    def __init__(self, steps: int):
        self.steps = steps

    def on_train_start(self, trainer, pl_module):
        limit_steps_of_running_fit(trainer, self.steps)
