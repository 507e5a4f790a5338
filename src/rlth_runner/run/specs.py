"""The boundary between the run's config and the training layer: a round's
`FitSpec` (training/spec.py), built once per round from the DictConfig.

Below this point nothing reads the config: the fit, the Trainer factory and
the edge-popup search take the typed values built here.
"""

from __future__ import annotations

from omegaconf import DictConfig

from .. import seeds
from ..analysis import flops
from ..lottery import budget
from ..storage.layout import LoggerLocation
from ..training.lr_schedules import LRSchedule
from ..training.spec import Checkpointing, EdgePopup, Evaluation, FitSpec, Optimizer, Steps, TrainerSettings
from .prepare import RunParts


def fit_spec(cfg: DictConfig, parts: RunParts, k: int, log_to: LoggerLocation) -> FitSpec:
    """Round k's fits, for the network `parts.net` holds now (its pruned MACs set the length under train.budget=flops)."""
    train, schedule, checkpoint = cfg.train, cfg.train.schedule, cfg.checkpoint
    macs = flops.macs_per_example(parts.net, parts.data.input_shape)
    length = budget.round_steps(train.budget, k, parts.fixed_steps, parts.dense_macs, macs, train.budget_cap)
    start = parts.policy.schedule_start(k)  # the fit trains the schedule's steps start .. length
    return FitSpec(
        round=k,
        macs=macs,
        steps=Steps(length, start, *budget.trainer_limits(length - start, parts.batches), train.batch_size, train.steps_per_block),
        schedule=LRSchedule(schedule.name, float(train.lr), length, start, schedule.warmup_steps, tuple(schedule.milestones),
                            float(schedule.gamma), float(schedule.min_lr_factor)),
        optimizer=Optimizer(train.optimizer, train.lr, train.momentum, train.weight_decay, train.distance_reg),
        mode=EdgePopup(float(train.edge_popup.density), seeds.derive(cfg.seed, "scores", k)) if train.get("mode") == "edge_popup" else None,
        evaluation=Evaluation(parts.eval_every, train.target_error),
        checkpoint=Checkpointing(checkpoint.every_n_epochs or None, checkpoint.min_interval_s, checkpoint.get("every_n_steps")),
        trainer=trainer_settings(cfg, k),
        log_to=log_to,
        fail_on_divergence=bool(cfg.stop.get("on_divergence")),
    )


def trainer_settings(cfg: DictConfig, k: int) -> TrainerSettings:
    hardware, train = cfg.hardware, cfg.train
    return TrainerSettings(hardware.accelerator, hardware.devices, hardware.get("strategy", "auto"), hardware.precision,
                           hardware.deterministic, train.val_every_n_epochs, train.log_every_n_steps, k, f"Round {k}/{cfg.rounds - 1}")
