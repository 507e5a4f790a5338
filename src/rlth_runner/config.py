"""Checks on the composed config, run before torch is imported so that a
mistake costs a fraction of a second, not a training round.

Unknown keys are already rejected by Hydra (the config is in struct mode);
this module checks values. Each error is one line naming the key and what
is allowed. Checks that need the data or the model (a rewind step beyond
round 0's length, a layer pattern that matches nothing) are made by the
runner before round 0 and raise the same ConfigError.
"""

from __future__ import annotations

from omegaconf import DictConfig, ListConfig

from . import growth_config
from .data import checks as data_checks
from .pruning import schedules

OPTIMIZERS = ("adam", "adamw", "sgd")
PRUNERS = ("l1_filter", "magnitude", "random")
SCOPES = {"magnitude": ("layer", "global"), "random": ("layer", "global"), "l1_filter": ("layer",)}
POLICIES = ("reset", "rewind", "finetune", "reinit", "random_mask", "grow")
STOP_METRICS = ("val_acc", "test_acc")
REFERENCES = ("dense", "final", "target")


class ConfigError(ValueError):
    pass


def _int(cfg, key: str, minimum: int, allow_none: bool = False) -> None:
    value = _get(cfg, key)
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        kind = f"an integer >= {minimum}" + (" or null" if allow_none else "")
        raise ConfigError(f"{key}={value!r} must be {kind}")


def _number(cfg, key: str, low: float, high: float, high_open: bool = True, allow_none: bool = False, meaning: str = "") -> None:
    value = _get(cfg, key)
    if value is None and allow_none:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value and (value < high if high_open else value <= high)
    if not ok:
        interval = f"[{low}, {high})" if high_open else f"[{low}, {high}]"
        raise ConfigError(f"{key}={value!r} must be in {interval}{' or null' if allow_none else ''}{meaning}")


def _choice(cfg, key: str, allowed) -> None:
    value = _get(cfg, key)
    if value not in allowed:
        raise ConfigError(f"{key}={value!r} is not one of: {', '.join(map(str, allowed))}")


def _patterns(cfg, key: str) -> None:
    value = _get(cfg, key)
    if value is not None and (not isinstance(value, (list, ListConfig)) or not all(isinstance(v, str) for v in value)):
        raise ConfigError(f"{key}={value!r} must be a list of layer-name patterns such as [output, 'hidden.*'], or null")


def _get(cfg, key: str):
    node = cfg
    for part in key.split("."):
        node = node.get(part) if hasattr(node, "get") else node[part]
    return node


def validate(cfg: DictConfig) -> None:
    _int(cfg, "seed", 0)
    _int(cfg, "rounds", 1)
    _int(cfg, "train.epochs", 1)
    _int(cfg, "train.max_steps", 1, allow_none=True)
    _int(cfg, "train.batch_size", 1)
    _int(cfg, "train.log_every_n_steps", 1)
    _int(cfg, "train.val_every_n_epochs", 1)
    _int(cfg, "train.eval_every_n_steps", 1, allow_none=True)
    lr = cfg.train.lr
    if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not lr > 0:
        raise ConfigError(f"train.lr={lr!r} must be a number > 0")
    _choice(cfg, "train.optimizer", OPTIMIZERS)
    if cfg.model.get("hidden_layers") is not None:
        _int(cfg, "model.hidden_layers", 0)
    _validate_pruner(cfg)
    _validate_policy(cfg)
    _validate_stop_and_verify(cfg)
    growth_config.check(cfg)
    if (problem := data_checks.problem(cfg)) is not None:
        raise ConfigError(problem)


def _validate_pruner(cfg) -> None:
    _choice(cfg, "pruner.name", PRUNERS)
    _number(cfg, "pruner.sparsity", 0, 1, meaning=": the fraction of weights each round prunes")
    _choice(cfg, "pruner.schedule", sorted(schedules.SCHEDULES))
    _choice(cfg, "pruner.scope", SCOPES[cfg.pruner.name])
    _int(cfg, "pruner.target_rounds", 1, allow_none=True)
    _int(cfg, "pruner.seed", 0, allow_none=True)
    _patterns(cfg, "pruner.include")
    _patterns(cfg, "pruner.exclude")
    rates = cfg.pruner.get("layer_rates")
    if rates is not None and not hasattr(rates, "items"):
        raise ConfigError(f"pruner.layer_rates={rates!r} must map layer-name patterns to rates, e.g. {{output: 0.1}}")
    for pattern, rate in (rates or {}).items():
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ConfigError(f"pruner.layer_rates.{pattern}={rate!r} must be in [0, 1): that layer's per-round sparsity")


def _validate_policy(cfg) -> None:
    _choice(cfg, "policy.name", POLICIES)
    if cfg.policy.name == "rewind":
        _int(cfg, "policy.step", 0, allow_none=True)
        _int(cfg, "policy.epoch", 0, allow_none=True)
        if cfg.policy.get("step") is None and cfg.policy.get("epoch") is None:
            raise ConfigError("policy.step=None: policy=rewind needs policy.step (an optimizer step of round 0) or policy.epoch")


def _validate_stop_and_verify(cfg) -> None:
    _number(cfg, "stop.accuracy", 0, 1, high_open=False, allow_none=True)
    _choice(cfg, "stop.metric", STOP_METRICS)
    _number(cfg, "stop.density", 0, 1, high_open=False, allow_none=True)
    comp = cfg.stop.compression
    if comp is not None and (isinstance(comp, bool) or not isinstance(comp, (int, float)) or comp < 1):
        raise ConfigError(f"stop.compression={comp!r} must be a number >= 1 or null: round 0's nonzero parameters over the round's")
    if not isinstance(cfg.verify.enabled, bool):
        raise ConfigError(f"verify.enabled={cfg.verify.enabled!r} must be true or false")
    _number(cfg, "verify.tolerance", 0, 1, high_open=False)
    _choice(cfg, "verify.metric", STOP_METRICS)
    _choice(cfg, "verify.reference", REFERENCES)
    _int(cfg, "verify.seed", 0, allow_none=True)
    if cfg.verify.enabled and cfg.verify.reference == "target" and cfg.stop.accuracy is None:
        raise ConfigError("verify.reference='target' needs stop.accuracy, the target accuracy Acc*; or use one of: dense, final")
