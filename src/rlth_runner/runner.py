"""The round loop: build, fit, evaluate, prune, apply the policy, save, log.

Plain Python around a fresh Lightning Trainer per round. Every round's
artifacts go to its own folder (see store.py); a round already on disk is
skipped, so resuming a run is re-running its command in the same directory.
The run ends at `rounds` or at the first stopping rule met (stopping.py),
then optionally retrains the final subnetwork to verify it (`verify`).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from torch import nn
from torch.utils.tensorboard import SummaryWriter

from . import checkpoints, flops, growth, policies, stopping
from .config import ConfigError
from .data import DataBundle, DataError, TensorBatches, load_dataset
from .models.build import ModelDataMismatch, build_model
from .pruning import masks, pruners
from .store import RunStore, save_tensor_file, write_json
from .summary import Summary, format_table
from .training import rewind
from .training.callbacks import NonFiniteLossError
from .training import module as tasks
from .training.early_stop import EarlyStopTracker
from .training.trainer import build_trainer, quiet_lightning

log = logging.getLogger("rlth_runner")

START = "start.pt"  # a round's weights before training, kept for `verify`


class RunError(RuntimeError):
    """A run stopped for a reason the user can act on; the message says which."""


@dataclass
class Setup:
    data: DataBundle
    net: nn.Module
    build_model: Callable[[], nn.Module]
    val_loader: TensorBatches
    test_loader: TensorBatches
    rewind_step: int | None


def run(cfg: DictConfig) -> dict:
    out = Path(cfg.paths.output_dir)
    store = RunStore(out)
    try:
        setup = prepare(cfg, store)  # errors that need the data or model, before summary.json
    except (DataError, ModelDataMismatch) as err:
        raise RunError(str(err)) from err
    info = {"dataset": cfg.dataset.name, "model": cfg.model.name, "pruner": cfg.pruner.name, "policy": cfg.policy.name, "seed": cfg.seed, "rounds_planned": cfg.rounds}
    summary = Summary(out / "summary.json", info)
    try:
        objective, stopped_by, reason = run_rounds(cfg, store, summary, setup)
        summary.data.update(stopped_by=stopped_by, stop_reason=reason)
        if cfg.verify.enabled:
            summary.data["verification"] = verify(cfg, store, setup, summary.data["rounds"])
    except NonFiniteLossError as err:
        summary.finish("failed", error=str(err))
        raise RunError(str(err)) from err
    except BaseException as err:
        summary.finish("failed", error=f"{type(err).__name__}: {err}")
        raise
    summary.finish("completed")
    print("\n" + format_table(summary.data["rounds"]))
    print(f"\nStopped {reason}")
    if "verification" in summary.data:
        print(format_verification(summary.data["verification"]))
    print(f"\nRun directory: {out}\nCurves: tensorboard --logdir {out / 'tensorboard'}")
    return {"objective": objective, "summary": summary.data}


def prepare(cfg: DictConfig, store: RunStore) -> Setup:
    """Load the data and build the network; check what the config alone cannot."""
    quiet_lightning()
    if cfg.hardware.num_threads:
        torch.set_num_threads(cfg.hardware.num_threads)
    pl.seed_everything(cfg.seed, verbose=False)

    data = load_dataset(cfg.dataset, cfg.paths.data_dir, cfg.hardware)

    def build() -> nn.Module:
        return build_model(cfg.model, data)

    net = build()
    p = cfg.pruner
    # Patterns are checked against the network as it will be by the last round:
    # a growing one may start without the layers they name (zero blocks).
    final = growth.final_form(net, cfg) if cfg.policy.name == "grow" else net
    bad = pruners.unmatched_patterns(final, p)
    if bad:
        layers = ", ".join(masks.prunable_layers(final, p.layer_types)) or "none"
        raise ConfigError(f"{bad[0]} matches no prunable layer of model {cfg.model.name}; its prunable layers are: {layers}")
    growth.attach_masks(net, p)
    growth.attach_masks(final, p)  # a no-op when `final` is `net`
    if not masks.masked_layers(final) and cfg.rounds > 1:
        raise ConfigError(f"pruner.layer_types={list(p.layer_types)} selects no layer of model {cfg.model.name}; nothing to prune")
    if not store.has_init():
        store.save_init(net.state_dict())

    rewind_step = None
    if cfg.policy.name == "rewind":
        batches = len(TensorBatches(*data.train, cfg.train.batch_size))
        rewind_step = rewind.step_of(cfg.policy, batches)
        length = rewind.round_length(cfg.train, batches)
        if rewind_step > length:
            key = "policy.epoch" if cfg.policy.get("epoch") is not None else "policy.step"
            raise ConfigError(
                f"{key}={cfg.policy[key.split('.')[1]]} (step {rewind_step}) is beyond round 0's length of {length} steps "
                f"(train.epochs={cfg.train.epochs} x {batches} batches, train.max_steps={cfg.train.max_steps}); allowed: policy.step in 0..{length}"
            )
        if store.is_done(0):
            captured = (store.root / rewind.FILE).exists() and rewind.load(store.root)["step"]
            if captured is False or captured != rewind_step:
                what = "no rewind.pt" if captured is False else f"rewind.pt from step {captured}"
                raise ConfigError(f"policy.step={rewind_step}: round 0 of {store.root} is done with {what}; rewinding needs a new run directory")

    eval_batch = max(cfg.train.batch_size, 1024)
    return Setup(data, net, build, TensorBatches(*data.val, eval_batch), TensorBatches(*data.test, eval_batch), rewind_step)


def fit(cfg: DictConfig, setup: Setup, round_index: int, output_dir: Path, seed: int, extra_callbacks=()) -> dict:
    """Train `setup.net` once with a fresh optimizer; its metrics."""
    net = setup.net
    pl.seed_everything(seed, verbose=False)
    module = tasks.for_task(setup.data.task)(net, cfg.train.optimizer, cfg.train.lr, cfg.train.momentum, cfg.train.weight_decay)
    callbacks = list(extra_callbacks)
    tracker = None
    if cfg.train.eval_every_n_steps:
        tracker = EarlyStopTracker(cfg.train.eval_every_n_steps, setup.val_loader, setup.test_loader)
        callbacks.append(tracker)
    trainer, best = build_trainer(cfg, round_index, output_dir, extra_callbacks=callbacks)
    train_loader = TensorBatches(*setup.data.train, cfg.train.batch_size, shuffle=True, seed=seed, augment=setup.data.augment)
    started = time.perf_counter()
    trainer.fit(module, train_loader, setup.val_loader)
    val = {}
    if best.best is None:  # max_steps ended the round before its first validation, or no accuracy (regression)
        val = trainer.validate(module, setup.val_loader, verbose=False)[0]
    test = trainer.test(module, setup.test_loader, verbose=False)[0]
    metrics = {
        "round": round_index,
        "density": masks.density(net),
        "layer_density": {name: kept / total for name, (kept, total) in masks.counts(net).items()},
        "params_total": sum(p.numel() for p in net.parameters()),
        "params_nonzero": sum(int(p.count_nonzero()) for p in net.parameters()),
        "hidden_layers": growth.depth(net),
        "flops": flops.estimate(net, setup.data.input_shape),
        **module.scores(best.best, val, test),
        "train_steps": trainer.global_step,
        "epochs": trainer.current_epoch,
        "seconds": round(time.perf_counter() - started, 3),
    }
    if tracker is not None and tracker.best is not None:
        metrics.update(tracker.best)
    return metrics


def run_rounds(cfg: DictConfig, store: RunStore, summary: Summary, setup: Setup) -> tuple[float | None, str, str]:
    net, p = setup.net, cfg.pruner
    policy = policies.get(cfg.policy.name)
    pruner_seed = p.seed if p.get("seed") is not None else cfg.seed
    round_writer = SummaryWriter(str(store.root / "tensorboard" / "summary"))

    objective, resume_from = None, None
    stopped_by, reason = "max_rounds", f"after round {cfg.rounds - 1}: rounds={cfg.rounds} done"
    for k in range(cfg.rounds):
        if store.is_done(k):
            resume_from, metrics = store.load_round(k)
            summary.add_round(metrics)
            objective = tasks.objective(metrics)
            log.info("Round %d already done, skipping (%s)", k, store.round_dir(k))
        else:
            if resume_from is not None:
                checkpoints.restore(net, resume_from, store.round_dir(k - 1))  # regrows a grown network first
                resume_from = None

            removed = 0
            if k > 0:
                removed = sum(pruners.prune(net, p, k, cfg.rounds, pruner_seed).values())
                policy(net, policies.PolicyContext(cfg, store, k, setup.build_model))
                if grown := growth.after_prune(net, cfg, k):
                    log.info("Round %d: inserted %s, now %d hidden layers", k, grown, growth.depth(net))
                growth.attach_masks(net, p)  # layers a policy added
            log.info("Round %d/%d: pruned %s weights, %.2f%% of prunable weights remain", k, cfg.rounds - 1, f"{removed:,}", 100 * masks.density(net))

            store.clear_partial(k)
            if cfg.verify.enabled:
                store.round_dir(k).mkdir(parents=True, exist_ok=True)
                save_tensor_file(store.round_dir(k) / START, {key: v.detach().cpu().clone() for key, v in net.state_dict().items()})
            extra = [rewind.RewindCapture(store.root, setup.rewind_step)] if k == 0 and setup.rewind_step is not None else []
            metrics = fit(cfg, setup, k, store.root, cfg.seed * 1000 + k, extra)
            first = summary.data["rounds"][0] if k else metrics
            metrics.update(pruned=removed, compression=stopping.compression(first, metrics))
            checkpoints.save_arch(store.round_dir(k), net, cfg.model, setup.data.input_shape, setup.data.num_classes)
            store.save_round(k, net.state_dict(), masks.get(net), metrics)
            summary.add_round(metrics)
            for key in ("density", "val_acc", "test_acc", "test_loss", "params_nonzero", "params_total", "compression", "hidden_layers", "flops", "val_error", "test_error"):
                if metrics.get(key) is not None:
                    round_writer.add_scalar(f"rounds/{key}", metrics[key], k)
            round_writer.flush()
            objective = tasks.objective(metrics)
            log.info("Round %d done: %s", k, tasks.describe(metrics))

        verdict = stopping.check(cfg.stop, summary.data["rounds"][0], metrics)
        if verdict is not None:
            stopped_by, reason = verdict
            log.info("Stopping %s", reason)
            break
    round_writer.close()
    return objective, stopped_by, reason


def verify(cfg: DictConfig, store: RunStore, setup: Setup, rounds: list[dict]) -> dict:
    """Algorithm 1, lines 7-10: retrain the final subnetwork from the weights
    its round started from (its policy's starting point), with a batch order
    no round used, and judge it against the reference accuracy."""
    k = rounds[-1]["round"]
    out = store.root / "verification"
    done = out / "metrics.json"
    if done.exists():
        metrics = json.loads(done.read_text())
    else:
        start = store.round_dir(k) / START
        if not start.exists():
            raise RunError(f"cannot verify round {k}: {start} is missing; rounds are only kept for verification when verify.enabled=true from the start of the run")
        checkpoints.restore(setup.net, torch.load(start, map_location="cpu", weights_only=True), store.round_dir(k))
        seed = cfg.verify.seed if cfg.verify.seed is not None else cfg.seed * 1000 + 999
        log.info("Verifying round %d's subnetwork: retraining it from its starting point (batch seed %d)", k, seed)
        shutil.rmtree(out / "tensorboard", ignore_errors=True)
        metrics = fit(cfg, setup, k, out, seed)
        metrics["seed"] = seed
        out.mkdir(parents=True, exist_ok=True)
        write_json(done, metrics)
    return {"policy": cfg.policy.name, "seed": metrics["seed"], "val_acc": metrics.get("val_acc"), "test_acc": metrics.get("test_acc"),
            "train_steps": metrics["train_steps"], **stopping.judge(cfg.verify, cfg.stop, rounds, metrics)}


def format_verification(v: dict) -> str:
    verdict = "a winning ticket" if v["winning_ticket"] else "NOT a winning ticket"
    pct = lambda x: "-" if x is None else f"{100 * x:.2f}%"  # noqa: E731
    return (
        f"Verification of round {v['round']}: retrained {v['metric']} {pct(v['acc'])} vs {v['reference']} {pct(v['reference_acc'])} "
        f"(tolerance {100 * v['tolerance']:.2f} points), density {pct(v['density'])}, compression {v['compression']:.2f}x: {verdict}"
    )
