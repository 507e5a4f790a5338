"""Saving a fit inside a round (`checkpoint.every_n_epochs`), so that a killed
run resumes the round rather than training it again (docs/reliability.md)."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Callable

import torch
from pytorch_lightning.callbacks import Checkpoint


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
