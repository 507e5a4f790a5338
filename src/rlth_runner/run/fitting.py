"""One round's training, shared by the round loop (rounds.py) and the branch
loop (branch_rounds.py): find whether the round is done or resumable, fit it
with a fresh Trainer, measure it (analysis/: the measures, the instability
analysis), save it (metrics.json last) and log it."""

from __future__ import annotations

import logging
import time

import pytorch_lightning as pl
from omegaconf import DictConfig

from .. import seeds
from ..analysis import flops, instability, measures
from ..cluster import distributed
from ..data import TensorBatches
from ..lottery import budget, growth, stopping
from ..lottery.pruning import masks
from ..record import RoundRecord
from ..storage.layout import LoggerLocation
from ..storage.ledger import DamagedArtifact
from ..storage.rundir import RunDir
from ..training import divergence, edge_popup, regularisers, tasks
from ..training.round_checkpoint import RoundCheckpoint
from ..training.early_stop import EarlyStopTracker
from ..training.lr_schedules import LRSchedule
from ..training.trainer import build_trainer
from . import checkpoints
from .prepare import RunParts
from .summary import Summary

log = logging.getLogger("rlth_runner")


def find_round(run_dir: RunDir, k: int) -> tuple[bool, tuple | None]:
    """Whether round k is done (a damaged one is moved aside, so it is not), else the
    checkpoint an interrupted attempt left to resume it from."""
    with distributed.rank_zero_first():
        if run_dir.is_done(k) and (problem := run_dir.round_damage(k)):
            # Rounds are deterministic: training it again from round k-1 restores it exactly.
            log.warning("Round %d: %s; moved the round to %s and training it again", k, problem, run_dir.move_aside(run_dir.round_dir(k)))
        done = run_dir.is_done(k)
        return done, None if done else resumable(run_dir, k)


def train_round(cfg: DictConfig, run_dir: RunDir, parts: RunParts, k: int, batch_seed: int, callbacks, resume,
                dense: RoundRecord | None) -> tuple[RoundRecord, dict | None]:
    """Train round k from the masks and weights `parts.net` holds now: its record with
    the measures, and the instability path when the round is analysed (instability.json).
    `dense`: round 0's record (None: this is round 0)."""
    net = parts.net
    distributed.check_agreement(k, net)  # under DDP: every rank holds the same masks and architecture
    if resume is None:
        run_dir.clear_partial(k)
    if cfg.verify.enabled:
        run_dir.save_start(k, net.state_dict())
    save = (lambda write: run_dir.save_checkpoint(k, write)) if cfg.checkpoint.every_n_epochs else None
    start = measures.kept_weights(net)
    analyse = instability_rounds(cfg.analysis.instability, k)
    start_state = {key: value.detach().clone() for key, value in net.state_dict().items()} if analyse else None
    supermask_acc = measures.untrained_accuracy(net, parts.test_loader) if parts.data.task == "classification" else None
    record = fit(cfg, parts, k, run_dir.tensorboard_location(k), batch_seed, callbacks, resume, save)
    record.supermask_acc = supermask_acc
    record.dist_from_start = measures.relative_distance(net, start)
    record.dist_from_init = measures.relative_distance(net, parts.init_weights)
    path = analyse_instability(cfg, run_dir, parts, k, start_state) if analyse else None
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


def log_round(writer, record: RoundRecord) -> None:
    for key, value in record.scalars().items():
        writer.add_scalar(f"rounds/{key}", value, record.round)
    writer.flush()


def resumable(run_dir: RunDir, k: int) -> tuple | None:
    """(path, step) of round k's checkpoint from an interrupted attempt, if intact."""
    try:
        found = run_dir.checkpoint(k)
    except DamagedArtifact as err:
        log.warning("Round %d: %s; moved it aside, training the round from its start", k, err)
        return None
    if found is not None:
        log.info("Round %d: resuming from its checkpoint at step %d (%s)", k, found[1], found[0])
    return found


def fit(cfg: DictConfig, parts: RunParts, round_index: int, log_to: LoggerLocation, seed: int, extra_callbacks=(),
        resume: tuple | None = None, save_checkpoint=None) -> RoundRecord:
    """Train `parts.net` once with a fresh optimizer, or go on from `resume`
    (a checkpoint of this fit and its step); the round's record."""
    net, t = parts.net, cfg.train
    pl.seed_everything(seed, verbose=False)
    macs = flops.macs_per_example(net, parts.data.input_shape)
    length = budget.round_steps(t.budget, round_index, parts.fixed_steps, parts.dense_macs, macs, t.budget_cap)
    start = parts.policy.schedule_start(round_index)  # the fit trains the schedule's steps start .. length
    schedule = LRSchedule.from_config(t, length, start)
    search = edge_popup.for_fit(net, t, cfg.seed, round_index)  # train.mode=edge_popup: scores train, weights stay
    module = tasks.for_task(parts.data.task)(search or net, t.optimizer, t.lr, t.momentum, t.weight_decay, t.steps_per_block, schedule,
                                             distance=regularisers.distance_to_start(net, t.distance_reg))
    callbacks = list(extra_callbacks)
    tracker = None
    if parts.eval_every:
        tracker = EarlyStopTracker(parts.eval_every, parts.val_loader, parts.test_loader, regression=parts.data.task == "regression")
        callbacks.append(tracker)
    if save_checkpoint is not None:
        callbacks.append(RoundCheckpoint(save_checkpoint, cfg.checkpoint.every_n_epochs, cfg.checkpoint.min_interval_s))
    path, step = resume if resume is not None else (None, None)
    train_loader = TensorBatches(*parts.data.train, t.batch_size, shuffle=True, seed=seed, augment=parts.data.augment, **distributed.shard())
    trainer, best = build_trainer(t, cfg.hardware, round_index, cfg.rounds, log_to, extra_callbacks=callbacks, resume_step=step,
                                  limits=budget.trainer_limits(length - start, len(train_loader)))
    started = time.perf_counter()
    trainer.fit(module, train_loader, parts.val_loader, ckpt_path=path, weights_only=True)
    diverged = divergence.judge(module, cfg.stop, round_index, agree=distributed.from_rank_zero)  # warns, or fails with stop.on_divergence
    val = {}
    if best.best is None:  # max_steps ended the round before its first validation, or no accuracy (regression)
        val = trainer.validate(module, parts.val_loader, verbose=False)[0]
    test = trainer.test(module, parts.test_loader, verbose=False)[0]
    subnetwork_density = search.fold() if search is not None else None  # the round's result: the subnetwork's weights
    return RoundRecord(
        round=round_index,
        density=masks.density(net),
        layer_density={name: kept / total for name, (kept, total) in masks.counts(net).items()},
        params_total=sum(p.numel() for p in net.parameters()),
        params_nonzero=sum(int(p.count_nonzero()) for p in net.parameters()),
        hidden_layers=growth.depth(net),
        macs=macs,
        **module.scores(best.best, val, test),
        train_steps=trainer.global_step,
        train_macs=budget.train_macs(macs, budget.examples_seen(trainer.global_step, len(train_loader), len(parts.data.train[0]), t.batch_size)),
        epochs=trainer.current_epoch,
        seconds=round(time.perf_counter() - started, 3),
        **(tracker.best if tracker is not None and tracker.best is not None else {}),
        steps_to_99=measures.steps_to_fraction(tracker.curve if tracker is not None else best.curve),
        steps_to_target=tracker.steps_to(t.target_error) if tracker is not None else None,
        subnetwork_density=subnetwork_density,
        diverged=diverged,
    )


def instability_rounds(cfg: DictConfig, k: int) -> bool:
    """Whether `analysis.instability` analyses round k."""
    return bool(cfg.enabled) and (cfg.rounds is None or k in cfg.rounds)


def analyse_instability(cfg: DictConfig, run_dir: RunDir, parts: RunParts, k: int, start: dict) -> dict:
    """Linear mode connectivity of round k (analysis/instability.py): the round's trained network
    is one copy; a second is trained from the same `start` with another batch order.
    Their test-error path, for instability.json; `parts.net` ends holding the round's weights."""
    net = parts.net
    trained = {key: value.detach().clone() for key, value in net.state_dict().items()}
    seed = seeds.derive(cfg.seed, "instability", k)
    log.info("Round %d: instability analysis, training a second copy from the round's start (batch seed %d)", k, seed)
    net.load_state_dict(start)
    run_dir.start_instability(k)
    fit(cfg, parts, k, run_dir.tensorboard_location(k, "instability"), seed)
    path = instability.error_path(net, trained, net.state_dict(), parts.test_loader, cfg.analysis.instability.points)
    barrier = instability.barrier(path)
    log.info("Round %d: test-error barrier between the two copies %.4f (ends %.4f, %.4f)", k, barrier, path[0][1], path[-1][1])
    return {"round": k, "seed": seed, "metric": "test_error", "points": [list(point) for point in path], "barrier": barrier}
