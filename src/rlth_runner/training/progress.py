"""The progress bar: one per round, counting optimizer steps."""

from __future__ import annotations

import math
import sys

from pytorch_lightning.callbacks import ProgressBar
from tqdm.auto import tqdm


class RoundProgressBar(ProgressBar):
    """One bar per round, counting optimizer steps, with the latest metrics.

    Lightning's default draws a bar per epoch plus one per validation pass,
    which buries the round structure (and fills SLURM logs). The bar moves
    every `refresh_every` steps: even a no-op tqdm update is a measurable
    share of a small network's step.
    """

    def __init__(self, label: str, refresh_every: int = 10):
        super().__init__()
        self.label, self.every = label, max(1, refresh_every)
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
