"""The tasks a dataset can have (its `task`): `Classifier` (cross-entropy,
accuracy) for the image datasets; `Regressor` (mean squared error, logged as
`error`) for regression data such as `teacher`. `for_task` picks one.
"""

from __future__ import annotations

import torch.nn.functional as F

from ..config import choices
from .module import TaskModule


class Classifier(TaskModule):
    def measure(self, batch):
        x, y = batch
        logits = self.net(x)
        loss = F.cross_entropy(logits, y)
        n = len(y)
        # A count of correct predictions: three small tensor ops, where a float mean takes more.
        return loss, {"loss": loss * n, "acc": (logits.argmax(dim=-1) == y).sum()}, n

    @staticmethod
    def scores(best_val_acc, val: dict, test: dict) -> dict:
        """The round record's scores (record.py), from the best validation and the test pass."""
        return {"val_acc": best_val_acc, "test_acc": test["test/acc"], "test_loss": test["test/loss"]}


class Regressor(TaskModule):
    """Mean squared error, reported as `error`. There is no accuracy: val_acc and test_acc are null."""

    def measure(self, batch):
        x, y = batch
        loss = F.mse_loss(self.net(x), y)
        n = len(y)
        total = loss * n
        return loss, {"loss": total, "error": total}, n

    @staticmethod
    def scores(best_val_acc, val: dict, test: dict) -> dict:
        # val: a validation pass with the round's final weights
        return {"val_acc": None, "test_acc": None, "test_loss": test["test/loss"], "val_error": val["val/error"], "test_error": test["test/error"]}


def for_task(task: str) -> type[TaskModule]:
    return choices.resolve(choices.TASKS, task, "task")
