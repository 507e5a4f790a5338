"""Checks on the composed config, run before torch is imported so that a
mistake costs a fraction of a second, not a training round.

Unknown keys are already rejected by Hydra (the config is in struct mode);
this module checks values, group by group. A policy checks its own keys
(`Policy.check`, loaded torch-free through config/choices.py). Checks that
need the data or the model (a rewind step beyond round 0's length, a layer
pattern that matches nothing, a model that cannot grow) are made before
round 0 by the policy's `prepare` and by `pruning.pruners.check_layers`,
with the same one-line ConfigError.
"""

from __future__ import annotations

from omegaconf import DictConfig

from . import choices
from .values import ConfigError, choice, flag, integer, is_number, number, patterns


def validate(cfg: DictConfig) -> None:
    integer(cfg, "seed", 0)
    integer(cfg, "rounds", 1)
    _train(cfg)
    if cfg.model.get("hidden_layers") is not None:
        integer(cfg, "model.hidden_layers", 0)
    _pruner(cfg)
    policy_class(cfg.policy).check(cfg.policy)
    _stop_and_verify(cfg)
    _dataset(cfg)


def policy_class(policy_cfg):
    """The Policy class `policy.name` names (imported without torch)."""
    choice(policy_cfg, "name", choices.POLICIES)
    return choices.resolve(choices.POLICIES, policy_cfg.name, "policy")


def run_info(cfg: DictConfig) -> dict:
    """What summary.json says about the run before its rounds."""
    return {"dataset": cfg.dataset.name, "model": cfg.model.name, "pruner": cfg.pruner.name, "policy": cfg.policy.name,
            "seed": cfg.seed, "rounds_planned": cfg.rounds}


def _train(cfg) -> None:
    integer(cfg, "train.epochs", 1)
    integer(cfg, "train.max_steps", 1, allow_none=True)
    integer(cfg, "train.batch_size", 1)
    integer(cfg, "train.log_every_n_steps", 1)
    integer(cfg, "train.val_every_n_epochs", 1)
    integer(cfg, "train.eval_every_n_steps", 1, allow_none=True)
    integer(cfg, "train.steps_per_block", 1)
    lr = cfg.train.lr
    if not is_number(lr) or not lr > 0:
        raise ConfigError(f"train.lr={lr!r} must be a number > 0")
    choice(cfg, "train.optimizer", choices.OPTIMIZERS)


def _pruner(cfg) -> None:
    choice(cfg, "pruner.name", choices.PRUNERS)
    number(cfg, "pruner.sparsity", 0, 1, meaning=": the fraction of weights each round prunes")
    choice(cfg, "pruner.schedule", choices.SCHEDULES)
    choice(cfg, "pruner.scope", choices.PRUNERS[cfg.pruner.name].scopes)
    integer(cfg, "pruner.target_rounds", 1, allow_none=True)
    integer(cfg, "pruner.seed", 0, allow_none=True)
    patterns(cfg, "pruner.include", example="[blocks.*]")
    patterns(cfg, "pruner.exclude")
    rates = cfg.pruner.get("layer_rates")
    if rates is not None and not hasattr(rates, "items"):
        raise ConfigError(f"pruner.layer_rates={rates!r} must map layer-name patterns to rates, e.g. {{output: 0.1}}")
    for pattern, rate in (rates or {}).items():
        if not is_number(rate) or not 0 <= rate < 1:
            raise ConfigError(f"pruner.layer_rates.{pattern}={rate!r} must be in [0, 1): that layer's per-round sparsity")


def _stop_and_verify(cfg) -> None:
    number(cfg, "stop.accuracy", 0, 1, high_open=False, allow_none=True)
    choice(cfg, "stop.metric", choices.STOP_METRICS)
    number(cfg, "stop.density", 0, 1, high_open=False, allow_none=True)
    comp = cfg.stop.compression
    if comp is not None and (not is_number(comp) or comp < 1):
        raise ConfigError(f"stop.compression={comp!r} must be a number >= 1 or null: round 0's nonzero parameters over the round's")
    if not isinstance(cfg.verify.enabled, bool):
        raise ConfigError(f"verify.enabled={cfg.verify.enabled!r} must be true or false")
    number(cfg, "verify.tolerance", 0, 1, high_open=False)
    choice(cfg, "verify.metric", choices.STOP_METRICS)
    choice(cfg, "verify.reference", choices.VERIFY_REFERENCES)
    integer(cfg, "verify.seed", 0, allow_none=True)
    if cfg.verify.enabled and cfg.verify.reference == "target" and cfg.stop.accuracy is None:
        raise ConfigError("verify.reference='target' needs stop.accuracy, the target accuracy Acc*; or use one of: dense, final")


def _dataset(cfg) -> None:
    ds = cfg.dataset
    for key, minimum in (("val_size", 0), ("test_size", 1), ("split_seed", 0), ("data_seed", 0), ("d", 1), ("K", 1), ("r", 1), ("N", 1)):
        if ds.get(key) is not None:
            integer(cfg, f"dataset.{key}", minimum)
    if ds.get("r") is not None and ds.get("d") is not None and ds.r > ds.d:
        raise ConfigError(f"dataset.r={ds.r} must be <= dataset.d={ds.d}: each teacher neuron connects to r of the d inputs")
    noise = ds.get("noise")
    if noise is not None and (not is_number(noise) or noise < 0):
        raise ConfigError(f"dataset.noise={noise!r} must be a number >= 0 (noise std relative to the rms output)")
    for key in ("augment", "download"):
        flag(cfg, f"dataset.{key}")



