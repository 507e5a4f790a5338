"""Locating the early-stop iteration (Frankle & Carbin's measure of how fast
a subnetwork learns): every `every` optimizer steps, evaluate the validation
loss and remember the step where it was lowest, with the test accuracy there.

Independent of Lightning's per-epoch validation, which picks `val_acc`; the
test accuracy is only recorded, never used to choose anything. The grid
includes step 0, so that the curves it logs (early_stop/*) start where the
round starts.

On regression data (`regression=True`) the loss is the mean squared error,
there is no accuracy, and the test error is logged instead. Either way the
tracker keeps the validation error at each grid point (1 - accuracy, or the
MSE), from which `steps_to` reads the round's `steps_to_target`.
"""

from __future__ import annotations

import math

from contextlib import contextmanager

import pytorch_lightning as pl
import torch
import torch.nn.functional as F


@contextmanager
def eval_mode(net):
    """`net` in eval mode (BatchNorm's running statistics, no dropout) for the block, then as it was."""
    was_training = net.training
    net.eval()
    try:
        yield net
    finally:
        net.train(was_training)


@torch.no_grad()
def evaluate(net, loader) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over a loader."""
    loss = correct = n = 0.0
    for x, y in loader:
        logits = net(x)
        loss += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += float((logits.argmax(-1) == y).sum())
        n += len(y)
    return loss / n, correct / n


@torch.no_grad()
def squared_error(net, loader) -> float:
    """Mean squared error over a loader (the Regressor's loss and error)."""
    total = n = 0.0
    for x, y in loader:
        total += float(F.mse_loss(net(x), y, reduction="sum"))
        n += len(y)
    return total / n


GRID_POINTS = 20  # evaluations per round of `eval_every_n_steps: auto` in a sweep


def grid_every(setting, round_steps: int, in_sweep: bool) -> int | None:
    """`train.eval_every_n_steps` in steps: `auto` is about GRID_POINTS evaluations per
    round in a sweep's jobs, where runs are compared, and none in a single run."""
    if setting != "auto":
        return setting
    return max(1, math.ceil(round_steps / GRID_POINTS)) if in_sweep else None


class EarlyStopTracker(pl.Callback):
    def __init__(self, every: int, val_loader, test_loader, regression: bool = False):
        self.every, self.val, self.test, self.regression = every, val_loader, test_loader, regression
        self.best: dict | None = None
        self.curve: list[tuple[int, float]] = []  # (step, validation accuracy) at each grid point; classification
        self.errors: list[tuple[int, float]] = []  # (step, validation error: 1 - accuracy, or MSE) at each grid point

    def state_dict(self):  # kept in a round's checkpoint
        return {"best": self.best, "curve": self.curve, "errors": self.errors}

    def load_state_dict(self, state):
        self.best, self.curve = state["best"], [tuple(point) for point in state.get("curve", [])]
        self.errors = [tuple(point) for point in state.get("errors", [])]

    def steps_to(self, target: float | None) -> int | None:
        """The first grid step whose validation error is <= `target` (train.target_error): a convergence
        speed that compares rounds at one error level, where each round's own best differs. None
        without a target, or when the round never reached it."""
        if target is None:
            return None
        return next((step for step, error in sorted(self.errors) if error <= target), None)

    def next_step_event(self, step: int) -> int:  # see training/step_chunks.py
        return step - step % self.every + self.every

    def on_train_start(self, trainer, pl_module):
        if trainer.global_step == 0:  # not when resuming: the checkpoint's state holds step 0 already
            self._check(trainer, pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step % self.every == 0:
            self._check(trainer, pl_module)

    def _check(self, trainer, pl_module):
        step, net = trainer.global_step, pl_module.net
        with eval_mode(net):
            if self.regression:
                val_loss, val_acc, test_acc = squared_error(net, self.val), None, None
                shown = {"val_loss": val_loss, "test_error": squared_error(net, self.test)}
            else:
                val_loss, val_acc = evaluate(net, self.val)
                _, test_acc = evaluate(net, self.test)
                shown = {"val_loss": val_loss, "val_acc": val_acc, "test_acc": test_acc}
        if trainer.logger is not None:
            for key, value in shown.items():
                trainer.logger.experiment.add_scalar(f"early_stop/{key}", value, step)
        if not self.regression:
            self.curve.append((step, val_acc))
        self.errors.append((step, val_loss if self.regression else 1 - val_acc))
        if self.best is None or val_loss < self.best["early_stop_val_loss"]:
            self.best = {"early_stop_step": step, "early_stop_val_loss": val_loss, "early_stop_val_acc": val_acc, "early_stop_test_acc": test_acc}
