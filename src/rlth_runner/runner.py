"""The round loop: build, fit, evaluate, prune, apply the policy, save, log.

Plain Python around a fresh Lightning Trainer per round. Every round's
artifacts go to its own folder (see store.py); a round already on disk is
skipped, so resuming a run is re-running its command in the same directory.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from torch.utils.tensorboard import SummaryWriter

from . import policies
from .data import DataError, TensorBatches, load_dataset
from .models.build import ModelDataMismatch, build_model
from .pruning import masks, schedules
from .pruning.magnitude import prune_layerwise
from .store import RunStore
from .summary import Summary, format_table
from .training.callbacks import NonFiniteLossError
from .training import module as tasks
from .training.trainer import build_trainer, quiet_lightning

log = logging.getLogger("rlth_runner")


class RunError(RuntimeError):
    """A run stopped for a reason the user can act on; the message says which."""


def run(cfg: DictConfig) -> dict:
    out = Path(cfg.paths.output_dir)
    store = RunStore(out)
    info = {"dataset": cfg.dataset.name, "model": cfg.model.name, "policy": cfg.policy.name, "seed": cfg.seed, "rounds_planned": cfg.rounds}
    summary = Summary(out / "summary.json", info)
    try:
        objective = run_rounds(cfg, store, summary)
    except (NonFiniteLossError, DataError, ModelDataMismatch) as err:
        summary.finish("failed", error=str(err))
        raise RunError(str(err)) from err
    except BaseException as err:
        summary.finish("failed", error=f"{type(err).__name__}: {err}")
        raise
    summary.finish("completed")
    print("\n" + format_table(summary.data["rounds"]))
    print(f"\nRun directory: {out}\nCurves: tensorboard --logdir {out / 'tensorboard'}")
    return {"objective": objective, "summary": summary.data}


def run_rounds(cfg: DictConfig, store: RunStore, summary: Summary) -> float | None:
    quiet_lightning()
    if cfg.hardware.num_threads:
        torch.set_num_threads(cfg.hardware.num_threads)
    pl.seed_everything(cfg.seed, verbose=False)

    data = load_dataset(cfg.dataset, cfg.paths.data_dir, cfg.hardware)
    net = build_model(cfg.model, data)
    masks.attach(net, cfg.pruner.layer_types)
    if not store.has_init():
        store.save_init(net.state_dict())
    policy = policies.get(cfg.policy.name)
    schedule = schedules.get(cfg.pruner.schedule)
    eval_batch = max(cfg.train.batch_size, 1024)
    val_loader = TensorBatches(*data.val, eval_batch)
    test_loader = TensorBatches(*data.test, eval_batch)
    round_writer = SummaryWriter(str(store.root / "tensorboard" / "summary"))

    objective, resume_from = None, None
    for k in range(cfg.rounds):
        if store.is_done(k):
            resume_from, metrics = store.load_round(k)
            summary.add_round(metrics)
            objective = tasks.objective(metrics)
            log.info("Round %d already done, skipping (%s)", k, store.round_dir(k))
            continue
        if resume_from is not None:
            net.load_state_dict(resume_from)
            resume_from = None

        removed = 0
        if k > 0:
            targets = {name: schedule(k, cfg.pruner.sparsity) for name in masks.masked_layers(net)}
            removed = sum(prune_layerwise(net, targets).values())
            policy(net, store)
        log.info("Round %d/%d: pruned %s weights, %.2f%% of prunable weights remain", k, cfg.rounds - 1, f"{removed:,}", 100 * masks.density(net))

        store.clear_partial(k)
        pl.seed_everything(cfg.seed * 1000 + k, verbose=False)
        module = tasks.for_task(data.task)(net, cfg.train.optimizer, cfg.train.lr, cfg.train.momentum, cfg.train.weight_decay)
        trainer, best = build_trainer(cfg, k, store.root)
        train_loader = TensorBatches(*data.train, cfg.train.batch_size, shuffle=True, seed=cfg.seed * 1000 + k, augment=data.augment)
        started = time.perf_counter()
        trainer.fit(module, train_loader, val_loader)
        val = {}
        if best.best is None:  # max_steps ended the round before its first validation, or no accuracy (regression)
            val = trainer.validate(module, val_loader, verbose=False)[0]
        test = trainer.test(module, test_loader, verbose=False)[0]

        metrics = {
            "round": k,
            "density": masks.density(net),
            "layer_density": {name: kept / total for name, (kept, total) in masks.counts(net).items()},
            "params_total": sum(p.numel() for p in net.parameters()),
            "params_nonzero": sum(int(p.count_nonzero()) for p in net.parameters()),
            "pruned": removed,
            **module.scores(best.best, val, test),
            "train_steps": trainer.global_step,
            "epochs": trainer.current_epoch,
            "seconds": round(time.perf_counter() - started, 3),
        }
        store.save_round(k, net.state_dict(), masks.get(net), metrics)
        summary.add_round(metrics)
        for key in ("density", "val_acc", "test_acc", "test_loss", "val_error", "test_error", "params_nonzero"):
            if metrics.get(key) is not None:
                round_writer.add_scalar(f"rounds/{key}", metrics[key], k)
        round_writer.flush()
        objective = tasks.objective(metrics)
        log.info("Round %d done: %s", k, tasks.describe(metrics))
    round_writer.close()
    return objective
