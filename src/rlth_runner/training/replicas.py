"""The LightningModule of a batched fit (run/batched.py): TaskModule's loop
(chunked steps, the LR schedule, epoch means) over a stacked network
(models/stacked.py), with every metric a vector of one value per replica.

The loss is the sum of the replicas' mean losses: the replicas' parameters are
disjoint, so each replica's gradient is the one its single fit computes, and
Adam, SGD and weight decay act elementwise, so one optimizer over the stacked
parameters steps each replica as its own would (up to float rounding).
Validation and test metrics are not `self.log`ged (Lightning takes scalars
only): they go straight to the loggers, and `results` and `best` keep them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .module import TaskModule
from .tasks import Classifier


class StackedClassifier(TaskModule):
    def __init__(self, net, replicas: int, *args, **kwargs):
        super().__init__(net, *args, **kwargs)
        self.replicas = replicas
        self.first_losses = None  # each replica's first training loss (divergence.py, per seed)
        self.best: list[float | None] = [None] * replicas  # each replica's best validation accuracy
        self.curves: list[list] = [[] for _ in range(replicas)]
        self.results: dict[str, dict[str, list[float]]] = {}

    def measure(self, batch):
        x, y = batch
        k = self.replicas
        logits = self.net(x)
        losses = F.cross_entropy(logits, y, reduction="none").view(k, -1)
        n = losses.shape[1]
        per_replica = losses.mean(dim=1)
        if self.first_losses is None and self.training and self.global_step == 0:
            self.first_losses = per_replica.detach()
        correct = (logits.argmax(dim=-1) == y).view(k, -1).sum(dim=1)
        return per_replica.sum(), {"loss": per_replica * n, "acc": correct}, n

    def training_step(self, dataloader_iter):
        out = super().training_step(dataloader_iter)
        if out:  # the progress bar shows the seeds' mean loss; it is finite only if every seed's is (FiniteLossGuard)
            out["loss"] = out["loss"] / self.replicas
        return out

    def replica_scores(self, i: int) -> dict:
        """Replica i's scores for its round record, as Classifier.scores gives a single fit's."""
        pick = lambda stage: {key: values[i] for key, values in self.results.get(stage, {}).items()}  # noqa: E731
        return Classifier.scores(self.best[i], pick("val"), pick("test"))

    def _log_step(self, metrics: dict) -> None:
        if not self.loggers:
            return
        values = {k: _host(v) for k, v in metrics.items()}
        values["epoch"] = self.current_epoch
        for logger in self.loggers:
            logger.log_metrics(values, step=self.global_step)

    def _log_means(self, stage: str, suffix: str = "") -> None:
        means = self.means[stage].pop()
        if not means:
            return
        values = {f"{stage}/{k}{suffix}": _host(v) for k, v in means.items()}
        self.results[stage] = values
        if stage == "val" and not self.trainer.sanity_checking:
            for i, acc in enumerate(values["val/acc"]):
                self.best[i] = acc if self.best[i] is None else max(self.best[i], acc)
                self.curves[i].append((self.global_step, acc))
        if self.loggers:
            for logger in self.loggers:
                logger.log_metrics({**values, "epoch": self.current_epoch}, step=self.global_step)


def _host(value):
    """A vector of one value per replica as a list, a scalar as a float."""
    if isinstance(value, torch.Tensor):
        return value.detach().float().tolist() if value.numel() > 1 else float(value)
    return value
