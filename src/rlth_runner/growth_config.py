"""Value checks for `policy=grow` and `pruner.include`, torch-free like config.py."""

from __future__ import annotations

# New-layer initialisations each growable model supports, by its _target_.
GROWABLE = {
    "rlth_runner.models.mlp.MLP": ("identity", "random"),
    "rlth_runner.models.rlth_resnet.RLTHResNet": ("identity", "zero_residual", "random"),
}
WHERE = ("last", "first")


def check(cfg) -> None:
    from .config import ConfigError  # config.py calls this module; import late to avoid a cycle

    include = cfg.pruner.get("include")
    if include is not None and (isinstance(include, str) or not all(isinstance(p, str) for p in include)):
        raise ConfigError(f"pruner.include={include!r} must be a list of layer-name patterns, e.g. [blocks.*], or null for all")

    policy = cfg.policy
    if policy.name != "grow":
        return
    target = cfg.model.get("_target_")
    if target not in GROWABLE:
        raise ConfigError(f"policy=grow needs a growable model (mlp, rlth_mlp, rlth_resnet), not model._target_={target!r}")
    where = policy.where
    if where not in WHERE and (isinstance(where, bool) or not isinstance(where, int) or where < 0):
        raise ConfigError(f"policy.where={where!r} must be last, first or a hidden-layer index >= 0")
    for key, allow_none in (("every", False), ("max_depth", True)):
        value = policy[key]
        if value is None and allow_none:
            continue
        minimum = 1 if key == "every" else 0
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(f"policy.{key}={value!r} must be an integer >= {minimum}" + (" or null" if allow_none else ""))
    if policy.init not in GROWABLE[target]:
        raise ConfigError(f"policy.init={policy.init!r} is not one of: {', '.join(GROWABLE[target])} (for model={cfg.model.name})")
