"""The LightningModules: one network, its loss, its metrics, its optimizer.

`Classifier` (cross-entropy, accuracy) for the image datasets; `Regressor`
(mean squared error, logged as `error`) for regression data such as
`teacher`. `for_task` picks one from the dataset's task.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


class Classifier(pl.LightningModule):
    def __init__(self, net: nn.Module, optimizer: str = "adam", lr: float = 1e-3, momentum: float = 0.9, weight_decay: float = 0.0):
        super().__init__()
        self.net = net
        self.optimizer_name, self.lr, self.momentum, self.weight_decay = optimizer, lr, momentum, weight_decay

    def forward(self, x):
        return self.net(x)

    def _step(self, batch, stage: str, on_step: bool):
        x, y = batch
        logits = self.net(x)
        loss = F.cross_entropy(logits, y)
        acc = (logits.argmax(dim=-1) == y).float().mean()
        self.log(f"{stage}/loss", loss, on_step=on_step, on_epoch=True, prog_bar=stage != "test")
        self.log(f"{stage}/acc", acc, on_step=on_step, on_epoch=True, prog_bar=stage == "val")
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train", on_step=True)

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val", on_step=False)

    def test_step(self, batch, batch_idx):
        self._step(batch, "test", on_step=False)

    def configure_optimizers(self):
        kwargs = {"lr": self.lr, "weight_decay": self.weight_decay}
        if self.optimizer_name == "sgd":
            kwargs["momentum"] = self.momentum
        return OPTIMIZERS[self.optimizer_name](self.net.parameters(), **kwargs)

    @staticmethod
    def scores(best_val_acc, val: dict, test: dict) -> dict:
        """The round's metrics for summary.json, from the best validation and the test pass."""
        return {"val_acc": best_val_acc, "test_acc": test["test/acc"], "test_loss": test["test/loss"]}


class Regressor(Classifier):
    """Mean squared error, reported as `error`. There is no accuracy: val_acc and test_acc are null."""

    def _step(self, batch, stage: str, on_step: bool):
        x, y = batch
        loss = F.mse_loss(self.net(x), y)
        self.log(f"{stage}/loss", loss, on_step=on_step, on_epoch=True, prog_bar=stage != "test")
        self.log(f"{stage}/error", loss, on_step=False, on_epoch=True, prog_bar=stage == "val")
        return loss

    @staticmethod
    def scores(best_val_acc, val: dict, test: dict) -> dict:
        # val: a validation pass with the round's final weights
        return {"val_acc": None, "test_acc": None, "test_loss": test["test/loss"], "val_error": val["val/error"], "test_error": test["test/error"]}


TASKS = {"classification": Classifier, "regression": Regressor}


def for_task(task: str) -> type[Classifier]:
    try:
        return TASKS[task]
    except KeyError:
        raise KeyError(f"unknown task {task!r}; choose one of {sorted(TASKS)}") from None


def objective(metrics: dict) -> float | None:
    """What a sweep optimises: best val accuracy (maximise), or val error (minimise) for regression."""
    return metrics["val_acc"] if metrics.get("val_acc") is not None else metrics.get("val_error")


def describe(metrics: dict) -> str:
    if metrics.get("val_acc") is None and "test_error" in metrics:
        return f"val error {metrics['val_error']:.4g}, test error {metrics['test_error']:.4g}"
    return f"best val acc {metrics['val_acc']:.4f}, test acc {metrics['test_acc']:.4f}"
