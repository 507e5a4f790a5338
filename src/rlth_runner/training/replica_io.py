"""What a batched fit (run/batched.py) feeds its stacked network and where its
numbers go, seed by seed:

    StackedBatches   each seed's own training batches, in its own order, joined
                     replica-major into one [K*B, ...] batch
    RepeatedBatches  an evaluation batch repeated K times, one copy per replica
    ReplicaLoggers   a Lightning Logger that sends element i of every metric to
                     seed i's TensorBoard run (a scalar, such as the LR, to all)
    ReplicaCallback  a seed's own callback (the rewind capture), shown that seed's
                     network as a single fit would show it
"""

from __future__ import annotations

from types import SimpleNamespace

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers.logger import Logger

from ..models.stacked import unstack_into


class _Epochs:
    """Lightning sets the epoch on `sampler`; every seed's loader reshuffles from it."""

    def __init__(self, loaders):
        self.loaders = loaders

    def set_epoch(self, epoch: int) -> None:
        for loader in self.loaders:
            loader.sampler.set_epoch(epoch)


class StackedBatches:
    def __init__(self, loaders: list):
        sizes = {len(loader) for loader in loaders}
        if len(sizes) != 1:
            raise ValueError(f"the seeds' loaders have different lengths {sorted(sizes)}")
        self.loaders, self.sampler, self.batch_sampler = loaders, _Epochs(loaders), None

    def __len__(self) -> int:
        return len(self.loaders[0])

    def __iter__(self):
        for batches in zip(*self.loaders):
            yield torch.cat([x for x, _ in batches]), torch.cat([y for _, y in batches])


class RepeatedBatches:
    def __init__(self, loader, replicas: int):
        self.loader, self.replicas = loader, replicas
        self.sampler, self.batch_sampler = getattr(loader, "sampler", None), None

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        k = self.replicas
        for x, y in self.loader:
            yield x.repeat(k, *[1] * (x.dim() - 1)), y.repeat(k, *[1] * (y.dim() - 1))


class ReplicaLoggers(Logger):
    def __init__(self, loggers: list[Logger]):
        super().__init__()
        self.seeds = loggers

    @property
    def name(self) -> str:
        return "replicas"

    @property
    def version(self) -> str:
        return str(self.seeds[0].version)

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        for i, logger in enumerate(self.seeds):
            logger.log_metrics({key: value[i] if isinstance(value, (list, tuple)) else value for key, value in metrics.items()}, step)

    def log_hyperparams(self, params, *args, **kwargs) -> None:
        return None  # the HPARAMS row is each seed's own (run/hparams.py)

    def save(self) -> None:
        for logger in self.seeds:
            logger.save()

    def finalize(self, status: str) -> None:
        for logger in self.seeds:
            logger.finalize(status)


class ReplicaCallback(pl.Callback):
    """Seed i's callback: before each hook it sees, replica i's weights are copied into seed i's
    own network, which the callback gets as `pl_module.net`."""

    def __init__(self, callback: pl.Callback, i: int, nets: list):
        self.callback, self.i, self.nets = callback, i, nets

    def _view(self, pl_module):
        unstack_into(pl_module.net, self.nets, only=self.i)
        return SimpleNamespace(net=self.nets[self.i])

    def next_step_event(self, step: int) -> int | None:
        event = getattr(self.callback, "next_step_event", None)
        return event(step) if event is not None else None

    def on_train_start(self, trainer, pl_module):
        self.callback.on_train_start(trainer, self._view(pl_module))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.callback.on_train_batch_end(trainer, self._view(pl_module), outputs, batch, batch_idx)
