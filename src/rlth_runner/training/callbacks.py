"""Callbacks for what must happen inside a fit."""

from __future__ import annotations

import math
import os
import random
import sys
import time
from pathlib import Path
from typing import Callable

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Checkpoint, ProgressBar
from tqdm.auto import tqdm

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

    Checked once per block of steps (training/blocks.py) on the block's mean
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


class RoundProgressBar(ProgressBar):
    """One bar per round, counting optimizer steps, with the latest metrics.

    Lightning's default draws a bar per epoch plus one per validation pass,
    which buries the round structure (and fills SLURM logs). The bar moves
    every `refresh_every` steps: even a no-op tqdm update is a measurable
    share of a small network's step.
    """

    def __init__(self, round_index: int, rounds: int, refresh_every: int = 10):
        super().__init__()
        self.label, self.every = f"Round {round_index}/{rounds - 1}", max(1, refresh_every)
        self.enabled, self.bar, self.loss = True, None, None

    def disable(self):
        self.enabled = False

    def enable(self):
        self.enabled = True

    def on_train_start(self, trainer, pl_module):
        total = trainer.estimated_stepping_batches
        self.bar = tqdm(
            total=None if math.isinf(total) else int(total),
            desc=self.label,
            unit="step",
            disable=not self.enabled or not trainer.is_global_zero,
            dynamic_ncols=True,
            mininterval=0.25 if sys.stderr.isatty() else 15.0,
            file=sys.stderr,
        )

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step % self.every == 0:
            if isinstance(outputs, dict) and "loss" in outputs:
                self.loss = outputs["loss"]
            self.bar.update(trainer.global_step - self.bar.n)
            self._show(trainer)

    def on_validation_end(self, trainer, pl_module):
        if self.bar is not None and not trainer.sanity_checking:
            self._show(trainer)

    def _show(self, trainer):
        metrics = trainer.callback_metrics  # recomputed on each access
        shown = {} if self.loss is None else {"loss": f"{float(self.loss):.4f}"}
        for key, name in (("val/loss", "val_loss"), ("val/acc", "val_acc")):
            if key in metrics:
                shown[name] = f"{float(metrics[key]):.4f}"
        self.bar.set_postfix(epoch=trainer.current_epoch, **shown, refresh=False)

    def on_train_end(self, trainer, pl_module):
        if self.bar is not None:
            self.bar.update(trainer.global_step - self.bar.n)
            self.bar.close()

    def on_exception(self, trainer, pl_module, exception):
        self.on_train_end(trainer, pl_module)


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


class RoundCheckpoint(Checkpoint):
    """Save the fit at an epoch's end, every `every_n_epochs` epochs once
    `min_interval_s` seconds have passed since the fit began or the last save.

    A Lightning `Checkpoint`, so it runs after the module has logged the
    epoch: the saved state is the epoch complete, validation included. The
    checkpoint holds what Lightning keeps (weights and masks, optimizer,
    loop counters, the callbacks' states) and the RNG states; the logger is
    flushed first, so every point up to the saved step is on disk.
    `save(write)` writes it atomically through the run directory.

    Under DDP saving is collective (Trainer.save_checkpoint ends in a
    barrier) while only rank 0 writes: rank 0's clock decides for every rank,
    and the other ranks call it with a path it never writes.
    """

    def __init__(self, save: Callable[[Callable[[Path], None]], None], every_n_epochs: int, min_interval_s: float):
        self.save, self.every, self.interval = save, every_n_epochs, min_interval_s
        self.last = time.monotonic()

    def on_train_epoch_end(self, trainer, pl_module):
        if (trainer.current_epoch + 1) % self.every:
            return
        if trainer.max_epochs is not None and trainer.current_epoch + 1 >= trainer.max_epochs:
            return  # the round is about to be saved whole
        due = time.monotonic() - self.last >= self.interval
        if not (trainer.strategy.broadcast(due) if trainer.world_size > 1 else due):
            return
        if not trainer.is_global_zero:
            trainer.save_checkpoint(os.devnull)  # only rank 0 writes (Strategy.save_checkpoint), but all reach the barrier
            self.last = time.monotonic()
            return
        for logger in trainer.loggers:
            experiment = getattr(logger, "experiment", None)
            if hasattr(experiment, "flush"):
                experiment.flush()
        self.save(trainer.save_checkpoint)
        self.last = time.monotonic()

    def state_dict(self):
        state = {"torch": torch.get_rng_state(), "python": random.getstate()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state):
        torch.set_rng_state(state["torch"])
        random.setstate(state["python"])
        if "cuda" in state:
            torch.cuda.set_rng_state_all(state["cuda"])
