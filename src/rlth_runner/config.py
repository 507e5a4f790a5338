"""Checks on the composed config, run before torch is imported so that a
mistake costs a fraction of a second, not a training round.

Unknown keys are already rejected by Hydra (the config is in struct mode);
this module checks values. Each error is one line naming the key.
"""

from __future__ import annotations

from omegaconf import DictConfig

from .data import checks as data_checks
from .pruning import schedules

OPTIMIZERS = ("adam", "adamw", "sgd")
SCOPES = ("layer",)
POLICIES = ("reset",)


class ConfigError(ValueError):
    pass


def _int(cfg, key: str, minimum: int, allow_none: bool = False) -> None:
    value = _get(cfg, key)
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        kind = f"an integer >= {minimum}" + (" or null" if allow_none else "")
        raise ConfigError(f"{key}={value!r} must be {kind}")


def _choice(cfg, key: str, allowed) -> None:
    value = _get(cfg, key)
    if value not in allowed:
        raise ConfigError(f"{key}={value!r} is not one of: {', '.join(map(str, allowed))}")


def _get(cfg, key: str):
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


def validate(cfg: DictConfig) -> None:
    _int(cfg, "seed", 0)
    _int(cfg, "rounds", 1)
    _int(cfg, "train.epochs", 1)
    _int(cfg, "train.max_steps", 1, allow_none=True)
    _int(cfg, "train.batch_size", 1)
    _int(cfg, "train.log_every_n_steps", 1)
    _int(cfg, "train.val_every_n_epochs", 1)
    lr = cfg.train.lr
    if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not lr > 0:
        raise ConfigError(f"train.lr={lr!r} must be a number > 0")
    _choice(cfg, "train.optimizer", OPTIMIZERS)

    sparsity = cfg.pruner.sparsity
    if not isinstance(sparsity, (int, float)) or isinstance(sparsity, bool) or not 0 <= sparsity < 1:
        raise ConfigError(f"pruner.sparsity={sparsity!r} must be in [0, 1): the fraction of weights each round prunes")
    _choice(cfg, "pruner.schedule", sorted(schedules.SCHEDULES))
    _choice(cfg, "pruner.scope", SCOPES)
    _choice(cfg, "policy.name", POLICIES)
    if cfg.model.get("hidden_layers") is not None:
        _int(cfg, "model.hidden_layers", 0)
    if (problem := data_checks.problem(cfg)) is not None:
        raise ConfigError(problem)
