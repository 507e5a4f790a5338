"""Round k of several seeds as one fit (`replicas`, replicas.py): the seeds'
networks are stacked (models/stacked.py), trained by one Trainer, and copied
back, so that everything around the fit (pruning, the policy, measures,
saving, the stopping rules) runs on each seed's own network as in a single
run. Each seed keeps its own batch order (its TensorBatches with its own
seed), its own TensorBoard run and its own record.
"""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace

import pytorch_lightning as pl
from pytorch_lightning.loggers import TensorBoardLogger

from ..data import TensorBatches
from ..models.stacked import stack, unstack_into
from ..record import RoundRecord
from ..training import divergence
from ..training.replica_io import RepeatedBatches, ReplicaCallback, ReplicaLoggers, StackedBatches
from ..training.replicas import StackedClassifier
from ..training.spec import FitSpec
from ..training.trainer import build_trainer
from .fitting import begin_round, end_round, round_record
from .prepare import RunParts
from .rounds import Lane

log = logging.getLogger("rlth_runner")


def train_together(k: int, started: list[tuple[Lane, tuple | None]]) -> list[tuple[RoundRecord, dict | None]]:
    """Round k of the lanes, as one batched fit; each lane's record as train_each would give it.
    A batched fit keeps no checkpoint inside the round: an interrupted round trains again from its start."""
    lanes = [lane for lane, _ in started]
    starts = [begin_round(lane.cfg, lane.run_dir, lane.parts, k, None) for lane in lanes]  # None: clears what an attempt left
    records = fit_stacked([s.spec for s in starts], [lane.parts for lane in lanes], [lane.source.batch_seed(k) for lane in lanes],
                          [lane.source.callbacks(k) for lane in lanes], lanes[0].cfg.model.name)
    return [end_round(lane.cfg, lane.run_dir, lane.parts, start, record, lane.source.dense(lane.summary, k))
            for lane, start, record in zip(lanes, starts, records)]


def fit_stacked(specs: list[FitSpec], parts: list[RunParts], batch_seeds: list[int], callbacks: list[list], model: str) -> list[RoundRecord]:
    """Train every seed's `parts.net` once, together, as its spec says (specs[i] is seed i's, and
    they may differ only in where they log); each seed's record."""
    spec, k = specs[0], len(specs)
    steps, opt = spec.steps, spec.optimizer
    if any((s.steps, s.schedule, s.optimizer) != (steps, spec.schedule, opt) for s in specs):
        raise RuntimeError(f"round {spec.round}: the seeds' fits differ in length or schedule and cannot be batched")
    nets = [p.net for p in parts]
    pl.seed_everything(batch_seeds[0], verbose=False)  # as a single fit does; nothing batched draws from it (dropout is refused)
    stacked = stack(nets, model)
    module = StackedClassifier(stacked, k, opt.name, opt.lr, opt.momentum, opt.weight_decay, steps.per_chunk, spec.schedule)
    train_loader = StackedBatches([TensorBatches(*p.data.train, steps.batch_size, shuffle=True, seed=seed, augment=p.data.augment)
                                   for p, seed in zip(parts, batch_seeds)])
    loggers = ReplicaLoggers([TensorBoardLogger(save_dir=s.log_to.save_dir, name=s.log_to.name, version=s.log_to.version, default_hp_metric=False)
                              for s in specs])
    wrapped = [ReplicaCallback(cb, i, nets) for i, own in enumerate(callbacks) for cb in own]
    trainer, _ = build_trainer(spec.trainer, spec.log_to, (steps.max_epochs, steps.max_steps), extra_callbacks=wrapped, logger=loggers)
    val, test = RepeatedBatches(parts[0].val_loader, k), RepeatedBatches(parts[0].test_loader, k)
    started = time.perf_counter()
    trainer.fit(module, train_loader, val)
    unstack_into(stacked, nets)
    if module.best[0] is None:  # max_steps ended the round before its first validation
        trainer.validate(module, val, verbose=False)
    trainer.test(module, test, verbose=False)
    records = []
    for i, (s, p, net) in enumerate(zip(specs, parts, nets)):
        losses = SimpleNamespace(first_loss=_at(module.first_losses, i), last_loss=_at(module.last_loss, i))
        diverged = divergence.judge(losses, s.fail_on_divergence, s.round)
        records.append(round_record(s, net, trainer, p, len(train_loader), module.replica_scores(i), module.curves[i], None, started,
                                    diverged=diverged))
    return records


def _at(values, i: int):
    return None if values is None else values[i]
