"""Capturing the weights that `policy=rewind` goes back to (lottery/policies/rewind.py)."""

from __future__ import annotations

from typing import Callable

import pytorch_lightning as pl


class RewindCapture(pl.Callback):
    """Hand the network's state at optimizer step `step` of this fit (0: before
    the first step) to `save(step, state)`.

    Registered after EnforceMasks, so the saved weights are already masked.
    """

    def __init__(self, save: Callable[[int, dict], None], step: int):
        self.save, self.step = save, step

    def on_train_start(self, trainer, pl_module):
        if self.step == 0 and trainer.global_step == 0:  # not when resuming from a checkpoint
            self.save(0, pl_module.net.state_dict())

    def next_step_event(self, step: int) -> int | None:  # see training/step_chunks.py
        return self.step if step < self.step else None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == self.step:
            self.save(self.step, pl_module.net.state_dict())
