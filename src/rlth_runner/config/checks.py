"""Checks on the composed config, run before torch is imported so that a
mistake costs a fraction of a second, not a training round.

Unknown keys are already rejected by Hydra (the config is in struct mode);
this module checks values, group by group: a dataset or model file must
name `_target_` and `name`; `hardware.*` must be values Lightning takes
(whether this machine has the device is cluster/hardware.py's check, after torch is
imported). An interpolation that does not resolve is a ConfigError too.
A policy checks its own keys
(`Policy.check`, loaded torch-free through config/choices.py). Checks that
need the data or the model (a rewind step beyond round 0's length, a layer
pattern that matches nothing, a model that cannot grow) run in one place
before round 0, run/prepare.py's `preflight` (the policy's `prepare`,
`pruning.pruners.check_layers`), with the same one line as a SetupError.
"""

from __future__ import annotations

from omegaconf import DictConfig, ListConfig
from omegaconf.errors import OmegaConfBaseException

from . import choices, model_dims, replicas
from .unresolved import omegaconf_line
from .values import ConfigError, at_least, choice, flag, integer, is_finite, is_int, number, patterns

# Groups whose file names the callable Hydra instantiates: an option and its `_target_`, as examples.
TARGETS = {"dataset": ("digits", "rlth_runner.data.digits.load_digits"), "model": ("mlp", "rlth_runner.models.mlp.MLP")}


def validate(cfg: DictConfig) -> None:
    try:
        _group_files(cfg)
        model_dims.check(cfg.model)  # a width or depth that makes no network (config/model_dims.py)
        integer(cfg, "seed", 0)
        integer(cfg, "rounds", 1)
        _train(cfg)
        if cfg.model.get("hidden_layers") is not None:
            integer(cfg, "model.hidden_layers", 0)
        if cfg.model.get("dropout") is not None:
            number(cfg, "model.dropout", 0, 1, meaning=": the probability of dropping a hidden unit in training (0: off)")
        _pruner(cfg)
        policy_class(cfg.policy).check(cfg.policy)
        _stop_and_verify(cfg)
        _analysis(cfg)
        integer(cfg, "checkpoint.every_n_epochs", 1, allow_none=True)
        integer(cfg, "checkpoint.every_n_steps", 1, allow_none=True)
        at_least(cfg, "checkpoint.min_interval_s", 0, meaning=": seconds between checkpoints inside a round")
        _dataset(cfg)
        _hardware(cfg)
        replicas.check(cfg)  # after the groups: its refusals read them
        if cfg.get("optimized_metric") not in (None, *choices.OPTIMIZED_METRIC_ALIASES):
            choice(cfg, "optimized_metric", choices.OPTIMIZED_METRICS)
    except OmegaConfBaseException as err:  # e.g. key=${nowhere}: an interpolation that does not resolve
        raise ConfigError(omegaconf_line(cfg, err)) from err


def policy_class(policy_cfg):
    """The Policy class `policy.name` names (imported without torch)."""
    choice(policy_cfg, "name", choices.POLICIES)
    return choices.resolve(choices.POLICIES, policy_cfg.name, "policy")


def run_info(cfg: DictConfig) -> dict:
    """What summary.json says about the run before its rounds."""
    info = {"dataset": cfg.dataset.name, "model": cfg.model.name, "pruner": cfg.pruner.name, "policy": cfg.policy.name,
            "seed": cfg.seed, "rounds_planned": cfg.rounds}
    if (cfg.get("branch") or {}).get("kind") is not None:  # a control off another run (lottery/branches/): which kind, and off what
        info["branch"] = {"kind": cfg.branch.kind, "from": str(cfg.branch["from"]), "seed": cfg.branch.seed}
    return info


def _train(cfg) -> None:
    integer(cfg, "train.epochs", 1)
    integer(cfg, "train.max_steps", 1, allow_none=True)
    integer(cfg, "train.batch_size", 1)
    integer(cfg, "train.log_every_n_steps", 1)
    integer(cfg, "train.val_every_n_epochs", 1)
    if cfg.train.eval_every_n_steps != "auto":
        integer(cfg, "train.eval_every_n_steps", 1, allow_none=True)
    integer(cfg, "train.steps_per_block", 1)
    at_least(cfg, "train.lr", 0, strict=True)
    at_least(cfg, "train.distance_reg", 0, meaning=": the weight of the learning-distance term in the loss (0: off)")
    at_least(cfg, "train.target_error", 0, allow_none=True, meaning=": the validation error steps_to_target waits for")
    for key in ("momentum", "weight_decay"):
        if key in cfg.train:
            at_least(cfg, f"train.{key}", 0)
    choice(cfg, "train.optimizer", choices.OPTIMIZERS)
    _lr_schedule(cfg)
    choice(cfg, "train.budget", choices.BUDGETS)
    at_least(cfg, "train.budget_cap", 1, meaning=": the longest round under train.budget=flops, in fixed round lengths")
    choice(cfg, "train.mode", choices.TRAIN_MODES)
    density = cfg.train.edge_popup.density
    if not (is_finite(density) and 0 < density <= 1):
        raise ConfigError(f"train.edge_popup.density={density!r} must be in (0, 1]: the fraction of each layer's unpruned weights "
                          "the subnetwork uses")


def _lr_schedule(cfg) -> None:
    choice(cfg, "train.schedule.name", choices.LR_SCHEDULES)
    integer(cfg, "train.schedule.warmup_steps", 0)
    milestones = cfg.train.schedule.milestones
    if not (isinstance(milestones, ListConfig) and all(is_int(m) and m >= 1 for m in milestones)
            and list(milestones) == sorted(set(milestones))):
        raise ConfigError(f"train.schedule.milestones={milestones!r} must be a list of increasing optimizer steps >= 1, such as [100,150]")
    at_least(cfg, "train.schedule.gamma", 0, strict=True, meaning=": the factor applied to the lr at each milestone")
    number(cfg, "train.schedule.min_lr_factor", 0, 1, high_open=False, meaning=": cosine's final lr as a fraction of train.lr")


def _pruner(cfg) -> None:
    choice(cfg, "pruner.name", choices.PRUNERS)
    number(cfg, "pruner.sparsity", 0, 1, meaning=": the fraction of weights each round prunes")
    choice(cfg, "pruner.schedule", choices.SCHEDULES)
    choice(cfg, "pruner.scope", choices.PRUNERS[cfg.pruner.name].scopes)
    integer(cfg, "pruner.target_rounds", 1, allow_none=True)
    integer(cfg, "pruner.seed", 0, allow_none=True)
    flag(cfg, "pruner.at_init")
    integer(cfg, "pruner.batches", 1)
    integer(cfg, "pruner.iterations", 1)
    g = cfg.pruner.gradual
    if cfg.pruner.schedule == "gradual" and not (all(is_int(v) for v in (g.start_step, g.end_step, g.frequency)) and 0 <= g.start_step < g.end_step
                                                 and g.frequency >= 1 and (g.end_step - g.start_step) % g.frequency == 0 and is_finite(g.power) and g.power > 0):
        raise ConfigError(f"pruner.gradual: need 0 <= start_step < end_step, frequency >= 1 dividing end_step - start_step, power > 0 (got {dict(g)})")
    if cfg.pruner.schedule == "gradual" and (cfg.pruner.at_init or cfg.policy.name == "grow" or cfg.train.mode == "edge_popup"):
        raise ConfigError("pruner.schedule=gradual prunes trained weights inside each round: not with pruner.at_init, policy=grow or train.mode=edge_popup")
    if choices.PRUNERS[cfg.pruner.name].network and not cfg.pruner.at_init:
        raise ConfigError(f"pruner={cfg.pruner.name} scores the network at initialisation only: keep pruner.at_init=true")
    patterns(cfg, "pruner.include", example="[blocks.*]")
    patterns(cfg, "pruner.exclude")
    rates = cfg.pruner.get("layer_rates")
    if rates is not None and not hasattr(rates, "items"):
        raise ConfigError(f"pruner.layer_rates={rates!r} must map layer-name patterns to rates, e.g. {{output: 0.1}}")
    for pattern, rate in (rates or {}).items():
        if not is_finite(rate) or not 0 <= rate < 1:
            raise ConfigError(f"pruner.layer_rates.{pattern}={rate!r} must be in [0, 1): that layer's per-round sparsity")


def _stop_and_verify(cfg) -> None:
    number(cfg, "stop.accuracy", 0, 1, high_open=False, allow_none=True)
    choice(cfg, "stop.metric", choices.STOP_METRICS)
    number(cfg, "stop.density", 0, 1, high_open=False, allow_none=True)
    at_least(cfg, "stop.compression", 1, allow_none=True, meaning=": round 0's nonzero parameters over the round's")
    flag(cfg, "stop.on_divergence")
    if not isinstance(cfg.verify.enabled, bool):
        raise ConfigError(f"verify.enabled={cfg.verify.enabled!r} must be true or false")
    number(cfg, "verify.tolerance", 0, 1, high_open=False)
    choice(cfg, "verify.metric", choices.STOP_METRICS)
    choice(cfg, "verify.reference", choices.VERIFY_REFERENCES)
    integer(cfg, "verify.seed", 0, allow_none=True)
    if cfg.verify.enabled and cfg.verify.reference == "target" and cfg.stop.accuracy is None:
        raise ConfigError("verify.reference='target' needs stop.accuracy, the target accuracy Acc*; or use one of: dense, final")


def _analysis(cfg) -> None:
    flag(cfg, "analysis.instability.enabled")
    integer(cfg, "analysis.instability.points", 2)
    rounds = cfg.analysis.instability.rounds
    if rounds is not None and not (isinstance(rounds, ListConfig) and all(is_int(k) and k >= 0 for k in rounds)):
        raise ConfigError(f"analysis.instability.rounds={rounds!r} must be a list of round indices such as [0,3], or null (every round)")


def _dataset(cfg) -> None:
    ds = cfg.dataset
    for key, minimum in (("val_size", 0), ("test_size", 1), ("split_seed", 0), ("data_seed", 0), ("d", 1), ("K", 1), ("r", 1), ("N", 1)):
        if ds.get(key) is not None:
            integer(cfg, f"dataset.{key}", minimum)
    if ds.get("r") is not None and ds.get("d") is not None and ds.r > ds.d:
        raise ConfigError(f"dataset.r={ds.r} must be <= dataset.d={ds.d}: each teacher neuron connects to r of the d inputs")
    if ds.get("noise") is not None:
        at_least(cfg, "dataset.noise", 0, meaning=" (noise std relative to the rms output)")
    for key in ("augment", "download"):
        flag(cfg, f"dataset.{key}")


def _group_files(cfg) -> None:
    """A dataset or model file names what to build (`_target_`) and itself (`name`)."""
    for group, (option, example) in TARGETS.items():
        node = cfg.get(group)
        if not hasattr(node, "get"):
            raise ConfigError(f"{group}={node!r}: choose a {group} file, e.g. {group}={option}")
        target = node.get("_target_")
        if target is None:
            raise ConfigError(f"{group}._target_ is missing: a {group} file needs `_target_: package.Class` (what to build), e.g. _target_: {example}")
        if not isinstance(target, str) or "." not in target.strip(".") or " " in target:
            raise ConfigError(f"{group}._target_={target!r} must be a dotted import path such as {example}")
        if not isinstance(node.get("name"), str) or not node.get("name"):
            raise ConfigError(f"{group}.name={node.get('name')!r}: a {group} file needs `name: <its name>`, used in summary.json and messages")


def _hardware(cfg) -> None:
    """What the config alone decides; whether this machine has the device is cluster/hardware.py's check."""
    choice(cfg, "hardware.accelerator", choices.ACCELERATORS)
    integer(cfg, "hardware.devices", 1)
    choice(cfg, "hardware.precision", choices.PRECISIONS)
    choice(cfg, "hardware.deterministic", choices.DETERMINISTIC)
    integer(cfg, "hardware.num_threads", 1, allow_none=True)
    choice(cfg, "hardware.strategy", choices.STRATEGIES)
    _processes(cfg.hardware, cfg.train.batch_size)


def _processes(hw, batch_size: int) -> None:
    """Several processes only through rlth-run's own DDP launch: Lightning's `auto`
    with devices > 1 would re-run the command line once per extra device."""
    if hw.strategy == "ddp" and hw.devices < 2:
        raise ConfigError(f"hardware.strategy=ddp with hardware.devices={hw.devices}: DDP needs hardware.devices >= 2 "
                          f"processes; use hardware=cpu (or hardware=auto) for one")
    if hw.strategy != "ddp" and hw.devices > 1:
        raise ConfigError(f"hardware.devices={hw.devices} with hardware.strategy={hw.strategy}: several devices need "
                          f"hardware=ddp (hardware.strategy=ddp), one process per device")
    if hw.strategy == "ddp" and batch_size < hw.devices:
        raise ConfigError(f"train.batch_size={batch_size} is the global batch, shared by the hardware.devices={hw.devices} "
                          f"processes: it must be >= {hw.devices}")
