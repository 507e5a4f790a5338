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
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch.utils.tensorboard import SummaryWriter

from . import checkpoints, flops, growth, policies
from .data import TensorBatches
from .pruning import masks, schedules
from .pruning.magnitude import prune_layerwise
from .store import RunStore
from .summary import Summary, format_table
from .training.callbacks import NonFiniteLossError
from .training.module import Classifier
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
    except NonFiniteLossError as err:
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

    data = instantiate(cfg.dataset, data_dir=cfg.paths.data_dir)
    net = instantiate(cfg.model, input_shape=data.input_shape, num_classes=data.num_classes)
    growth.attach_masks(net, cfg.pruner)
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
            objective = metrics["val_acc"]
            log.info("Round %d already done, skipping (%s)", k, store.round_dir(k))
            continue
        if resume_from is not None:
            checkpoints.restore(net, resume_from, store.round_dir(k - 1))  # regrows a grown network first
            resume_from = None

        removed = 0
        if k > 0:
            targets = {name: schedule(k, cfg.pruner.sparsity) for name in masks.masked_layers(net)}
            removed = sum(prune_layerwise(net, targets).values())
            policy(net, store)
            if grown := growth.after_prune(net, cfg, k):
                log.info("Round %d: inserted %s, now %d hidden layers", k, grown, growth.depth(net))
        log.info("Round %d/%d: pruned %s weights, %.2f%% of prunable weights remain", k, cfg.rounds - 1, f"{removed:,}", 100 * masks.density(net))

        store.clear_partial(k)
        pl.seed_everything(cfg.seed * 1000 + k, verbose=False)
        module = Classifier(net, cfg.train.optimizer, cfg.train.lr, cfg.train.momentum, cfg.train.weight_decay)
        trainer, best = build_trainer(cfg, k, store.root)
        train_loader = TensorBatches(*data.train, cfg.train.batch_size, shuffle=True, seed=cfg.seed * 1000 + k)
        started = time.perf_counter()
        trainer.fit(module, train_loader, val_loader)
        if best.best is None:  # max_steps ended the round before its first validation
            trainer.validate(module, val_loader, verbose=False)
        test = trainer.test(module, test_loader, verbose=False)[0]

        metrics = {
            "round": k,
            "density": masks.density(net),
            "layer_density": {name: kept / total for name, (kept, total) in masks.counts(net).items()},
            "params_total": sum(p.numel() for p in net.parameters()),
            "params_nonzero": sum(int(p.count_nonzero()) for p in net.parameters()),
            "hidden_layers": growth.depth(net),
            "flops": flops.estimate(net, data.input_shape),
            "pruned": removed,
            "val_acc": best.best,
            "test_acc": test["test/acc"],
            "test_loss": test["test/loss"],
            "train_steps": trainer.global_step,
            "epochs": trainer.current_epoch,
            "seconds": round(time.perf_counter() - started, 3),
        }
        checkpoints.save_arch(store.round_dir(k), net, cfg.model, data.input_shape, data.num_classes)
        store.save_round(k, net.state_dict(), masks.get(net), metrics)
        summary.add_round(metrics)
        for key in ("density", "val_acc", "test_acc", "test_loss", "params_nonzero", "params_total", "hidden_layers", "flops"):
            if metrics[key] is not None:
                round_writer.add_scalar(f"rounds/{key}", metrics[key], k)
        round_writer.flush()
        objective = metrics["val_acc"]
        log.info("Round %d done: best val acc %.4f, test acc %.4f", k, metrics["val_acc"], metrics["test_acc"])
    round_writer.close()
    return objective
