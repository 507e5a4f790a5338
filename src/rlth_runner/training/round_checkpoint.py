"""Saving a fit inside a round, so that a stopped or killed run resumes the
round rather than training it again (docs/reliability.md): at epoch ends
(`checkpoint.every_n_epochs`), inside epochs (`checkpoint.every_n_steps`),
and at the step a stop signal was noted (run/interrupts.py)."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path
from typing import Callable

import torch
from pytorch_lightning.callbacks import Checkpoint

from ..run import interrupts


class RoundCheckpoint(Checkpoint):
    """Save the fit every `every_n_epochs` epoch ends and every `every_n_steps`
    optimizer steps (None: not on that count), once `min_interval_s` seconds
    have passed since the fit began or the last save; and, whatever the
    interval, at the step boundary after a stop signal, then stop the fit.

    A Lightning `Checkpoint`, so it runs after the module has logged the
    epoch: an epoch-end save holds the epoch complete, validation included.
    A save inside an epoch also holds the position in the epoch's batch order
    (data/batches.py) and the epoch's sums so far (module.py); it is never
    taken at an epoch's last batch, whose epoch end (validation, the epoch's
    means) is still to run: a signal there is saved at the epoch's end. The
    checkpoint holds what Lightning keeps (weights and masks, optimizer, loop
    counters, the callbacks' states) and the RNG states; the logger is
    flushed first, so every point up to the saved step is on disk.
    `save(write)` writes it atomically through the run directory.

    Under DDP saving is collective (Trainer.save_checkpoint ends in a
    barrier) while only rank 0 writes: rank 0's clock decides for every rank,
    a signal noted by any rank counts for all, and the other ranks call it
    with a path it never writes.
    """

    def __init__(self, save: Callable[[Callable[[Path], None]], None], every_n_epochs: int | None, min_interval_s: float,
                 every_n_steps: int | None = None):
        self.save, self.every, self.interval, self.every_steps = save, every_n_epochs, min_interval_s, every_n_steps
        self.last = time.monotonic()

    def next_step_event(self, step: int) -> int | None:  # a chunk of steps ends where a save may fall (step_chunks.py)
        return None if not self.every_steps else step - step % self.every_steps + self.every_steps

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        step = trainer.global_step
        if trainer.is_last_batch or step == trainer.max_steps:
            return  # the epoch's end, or the round's, comes next
        if self._signalled(trainer):
            self._write(trainer)
            raise interrupts.Interrupted(interrupts.received or signal.SIGTERM, f" at step {step}")
        if self.every_steps and step % self.every_steps == 0 and self._due(trainer):
            self._write(trainer)

    def on_train_epoch_end(self, trainer, pl_module):
        if self._signalled(trainer):
            if trainer.max_epochs is None or trainer.current_epoch + 1 < trainer.max_epochs:
                self._write(trainer)
                raise interrupts.Interrupted(interrupts.received or signal.SIGTERM, f" at step {trainer.global_step}")
            return  # the round is about to be saved whole; the runner stops before the next one
        if not self.every or (trainer.current_epoch + 1) % self.every:
            return
        if trainer.max_epochs is not None and trainer.current_epoch + 1 >= trainer.max_epochs:
            return  # the round is about to be saved whole
        if self._due(trainer):
            self._write(trainer)

    def _signalled(self, trainer) -> bool:
        noted = interrupts.received is not None
        if trainer.world_size > 1:
            noted = bool(trainer.strategy.reduce(torch.tensor(float(noted), device=trainer.strategy.root_device), reduce_op="sum") > 0)
        return noted

    def _due(self, trainer) -> bool:
        due = time.monotonic() - self.last >= self.interval
        return trainer.strategy.broadcast(due) if trainer.world_size > 1 else due

    def _write(self, trainer) -> None:
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
