"""One round's training, whichever source of rounds asked for it (rounds.py):
fit it with a fresh Trainer from the round's FitSpec (specs.py), measure it
(analysis/: the measures, the instability analysis), save it (metrics.json
last). `cfg` is the whole run's config throughout; `fit` takes only the spec."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

import pytorch_lightning as pl
from omegaconf import DictConfig

from .. import seeds
from ..analysis import instability, measures
from ..cluster import distributed
from ..data import TensorBatches
from ..lottery import budget, growth, stopping
from ..lottery.pruning import masks
from ..record import RoundRecord
from ..storage.rundir import RunDir
from ..training import divergence, edge_popup, regularisers, tasks
from ..training.early_stop import EarlyStopTracker
from ..training.round_checkpoint import RoundCheckpoint
from ..training.spec import FitSpec
from ..training.trainer import build_trainer
from . import checkpoints
from .prepare import RunParts
from .specs import fit_spec
from .summary import Summary

log = logging.getLogger("rlth_runner")


@dataclass
class RoundStart:
    """What a round's measures compare the trained network with, taken before its fit."""

    spec: FitSpec
    kept: dict  # the kept weights the round started from (dist_from_start)
    state: dict | None  # the whole state, when the instability analysis trains a second copy from it
    supermask_acc: float | None


def train_round(cfg: DictConfig, run_dir: RunDir, parts: RunParts, k: int, batch_seed: int, callbacks, resume,
                dense: RoundRecord | None) -> tuple[RoundRecord, dict | None]:
    """Train round k from the masks and weights `parts.net` holds now: its record with
    the measures, and the instability path when the round is analysed (instability.json).
    `resume`: the checkpoint an interrupted attempt left; `dense`: round 0's record (None: this is round 0)."""
    start = begin_round(cfg, run_dir, parts, k, resume)
    save = (lambda write: run_dir.save_checkpoint(k, write)) if start.spec.checkpoint else None
    record = fit(start.spec, parts, batch_seed, callbacks, resume, save)
    return end_round(cfg, run_dir, parts, start, record, dense)


def begin_round(cfg: DictConfig, run_dir: RunDir, parts: RunParts, k: int, resume) -> RoundStart:
    """Before round k's fit: its spec and what its measures need of the starting network."""
    net = parts.net
    distributed.check_agreement(k, net)  # under DDP: every rank holds the same masks and architecture
    if resume is None:
        run_dir.clear_partial(k)
    if cfg.verify.enabled:
        run_dir.save_start(k, net.state_dict())
    state = {key: value.detach().clone() for key, value in net.state_dict().items()} if analysed(cfg, k) else None
    supermask_acc = measures.untrained_accuracy(net, parts.test_loader) if parts.data.task == "classification" else None
    return RoundStart(fit_spec(cfg, parts, k, run_dir.tensorboard_location(k)), measures.kept_weights(net), state, supermask_acc)


def end_round(cfg: DictConfig, run_dir: RunDir, parts: RunParts, start: RoundStart, record: RoundRecord,
              dense: RoundRecord | None) -> tuple[RoundRecord, dict | None]:
    """After round k's fit: the measures against its start, and the instability analysis if asked."""
    net = parts.net
    record.supermask_acc = start.supermask_acc
    record.dist_from_start = measures.relative_distance(net, start.kept)
    record.dist_from_init = measures.relative_distance(net, parts.init_weights)
    path = analyse_instability(cfg, run_dir, parts, start.spec, start.state) if start.state is not None else None
    record.instability_barrier = path["barrier"] if path else None
    record.compression = stopping.compression(dense or record, record)
    return record, path


def finish_round(cfg: DictConfig, run_dir: RunDir, parts: RunParts, record: RoundRecord, instability: dict | None, summary: Summary) -> None:
    """Save a trained round (its metrics.json last: then it is done) and add it to the summary."""
    net, k = parts.net, record.round
    arch = checkpoints.arch_of(net, cfg.model, parts.data.input_shape, parts.data.num_classes)
    run_dir.save_round(k, net.state_dict(), masks.get(net), arch, record, instability=instability)
    run_dir.drop_checkpoint(k)
    summary.add_round(record)
    log.info("Round %d done: %s", k, record.describe())


def fit(spec: FitSpec, parts: RunParts, seed: int, callbacks=(), resume: tuple | None = None, save=None) -> RoundRecord:
    """Train `parts.net` once as `spec` says, with a fresh optimizer and the batch order of `seed`,
    or go on from `resume` (a checkpoint of this fit and its step); `save` writes the fit's
    checkpoints (spec.checkpoint; None: none). The fit's record."""
    net, steps, opt = parts.net, spec.steps, spec.optimizer
    pl.seed_everything(seed, verbose=False)
    search = edge_popup.for_fit(net, spec.mode)  # train.mode=edge_popup: scores train, weights stay
    module = tasks.for_task(parts.data.task)(search or net, opt.name, opt.lr, opt.momentum, opt.weight_decay, steps.per_chunk, spec.schedule,
                                             distance=regularisers.distance_to_start(net, opt.distance_reg))
    callbacks = list(callbacks)
    tracker = None
    if spec.evaluation.every:
        tracker = EarlyStopTracker(spec.evaluation.every, parts.val_loader, parts.test_loader, regression=parts.data.task == "regression")
        callbacks.append(tracker)
    if save is not None:
        callbacks.append(RoundCheckpoint(save, spec.checkpoint.every_n_epochs, spec.checkpoint.min_interval_s, spec.checkpoint.every_n_steps))
    path, step = resume if resume is not None else (None, None)
    train_loader = TensorBatches(*parts.data.train, steps.batch_size, shuffle=True, seed=seed, augment=parts.data.augment, **distributed.shard())
    trainer, best = build_trainer(spec.trainer, spec.log_to, (steps.max_epochs, steps.max_steps), extra_callbacks=callbacks, resume_step=step)
    started = time.perf_counter()
    trainer.fit(module, train_loader, parts.val_loader, ckpt_path=path, weights_only=True)
    diverged = divergence.judge(module, spec.fail_on_divergence, spec.round, agree=distributed.from_rank_zero)  # warns, or fails with stop.on_divergence
    val = {}
    if best.best is None:  # max_steps ended the round before its first validation, or no accuracy (regression)
        val = trainer.validate(module, parts.val_loader, verbose=False)[0]
    test = trainer.test(module, parts.test_loader, verbose=False)[0]
    subnetwork_density = search.fold() if search is not None else None  # the round's result: the subnetwork's weights
    scores = module.scores(best.best, val, test)
    return round_record(spec, net, trainer, parts, len(train_loader), scores, best.curve, tracker, started,
                        subnetwork_density=subnetwork_density, diverged=diverged)


def round_record(spec: FitSpec, net, trainer, parts: RunParts, batches: int, scores: dict, curve, tracker, started: float,
                 **extra) -> RoundRecord:
    """The record of a fit that has trained `net` (batched.py's fits too: `net` is then one seed's)."""
    steps = spec.steps
    seen = budget.examples_seen(trainer.global_step, batches, len(parts.data.train[0]), steps.batch_size)
    return RoundRecord(
        round=spec.round,
        density=masks.density(net),
        layer_density={name: kept / total for name, (kept, total) in masks.counts(net).items()},
        params_total=sum(p.numel() for p in net.parameters()),
        params_nonzero=sum(int(p.count_nonzero()) for p in net.parameters()),
        hidden_layers=growth.depth(net),
        macs=spec.macs,
        **scores,
        train_steps=trainer.global_step,
        train_macs=budget.train_macs(spec.macs, seen),
        epochs=trainer.current_epoch,
        seconds=round(time.perf_counter() - started, 3),
        **(tracker.best if tracker is not None and tracker.best is not None else {}),
        steps_to_99=measures.steps_to_fraction(tracker.curve if tracker is not None else curve),
        steps_to_target=tracker.steps_to(spec.evaluation.target_error) if tracker is not None else None,
        **extra,
    )


def analysed(cfg: DictConfig, k: int) -> bool:
    """Whether `analysis.instability` analyses round k."""
    settings = cfg.analysis.instability
    return bool(settings.enabled) and (settings.rounds is None or k in settings.rounds)


def analyse_instability(cfg: DictConfig, run_dir: RunDir, parts: RunParts, spec: FitSpec, start: dict) -> dict:
    """Linear mode connectivity of round k (analysis/instability.py): the round's trained network
    is one copy; a second is trained as `spec` says from the same `start` with another batch order.
    Their test-error path, for instability.json; `parts.net` ends holding the round's weights."""
    net, k = parts.net, spec.round
    trained = {key: value.detach().clone() for key, value in net.state_dict().items()}
    seed = seeds.derive(cfg.seed, "instability", k)
    log.info("Round %d: instability analysis, training a second copy from the round's start (batch seed %d)", k, seed)
    net.load_state_dict(start)
    run_dir.start_instability(k)
    fit(replace(spec, log_to=run_dir.tensorboard_location(k, "instability")), parts, seed)
    path = instability.error_path(net, trained, net.state_dict(), parts.test_loader, cfg.analysis.instability.points)
    barrier = instability.barrier(path)
    log.info("Round %d: test-error barrier between the two copies %.4f (ends %.4f, %.4f)", k, barrier, path[0][1], path[-1][1])
    return {"round": k, "seed": seed, "metric": "test_error", "points": [list(point) for point in path], "barrier": barrier}
