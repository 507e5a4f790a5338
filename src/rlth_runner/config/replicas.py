"""`replicas=K`: a job that trains seeds seed .. seed+K-1 as one batched model
(run/replicas.py). What the batched path does not do is refused here, torch-free,
with one line naming `replicas` and the key, before any file is written.
"""

from __future__ import annotations

from omegaconf import OmegaConf

from .values import ConfigError, integer


def check(cfg) -> None:
    integer(cfg, "replicas", 1)
    k = cfg.replicas
    if k == 1:
        return
    for key, refused, why in _refusals(cfg):
        if refused:
            raise ConfigError(f"replicas={k} cannot be combined with {key}={OmegaConf.select(cfg, key)!r}: {why}; use replicas=1 "
                              f"(one seed per job)")


def count(cfg) -> int:
    """How many seeds the job trains (1: a single run)."""
    return int(cfg.get("replicas", 1) or 1)


def _refusals(cfg):
    hw, train = cfg.hardware, cfg.train
    eval_every = train.eval_every_n_steps
    return [
        ("hardware.strategy", hw.strategy == "ddp" or hw.devices > 1, "the seeds train as one model in one process, not under DDP"),
        ("train.mode", train.mode == "edge_popup", "edge-popup's scores are not batched"),
        ("train.budget", train.budget == "flops", "a FLOP budget gives each seed its own step count, and the batched seeds step together"),
        ("branch.from", (cfg.get("branch") or {}).get("from") is not None, "a branch trains off one run; branch each seed's directory instead"),
        ("pruner.schedule", cfg.pruner.schedule == "gradual", "pruning inside a round is not batched"),
        ("pruner.at_init", bool(cfg.pruner.at_init), "pruning at initialisation is not batched"),
        ("analysis.instability.enabled", bool(cfg.analysis.instability.enabled), "the instability analysis is not batched"),
        ("verify.enabled", bool(cfg.verify.enabled), "the verification retraining is not batched"),
        ("train.distance_reg", float(train.distance_reg) > 0, "the learning-distance term is not batched"),
        ("model.dropout", float(cfg.model.get("dropout") or 0) > 0, "dropout would draw one random stream for all seeds, not each seed's own"),
        ("train.eval_every_n_steps", eval_every not in (None, "auto"), "the validation grid is not batched (auto leaves it off)"),
    ]
