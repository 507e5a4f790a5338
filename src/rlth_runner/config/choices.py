"""Every value a choice-valued config key may take, listed once, with where
its implementation lives ("module:attribute"). Torch-free.

Validation reads the names (config/checks.py); dispatch resolves the
implementation with `resolve`, which imports it only when it is used. A new
pruner, schedule, policy, optimizer or task is one entry here plus its code.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from ..record import FORMER_KEYS, OPTIMIZABLE, RoundRecord


@dataclass(frozen=True)
class PrunerChoice:
    scopes: tuple[str, ...]  # allowed `pruner.scope` values
    scores: str | None  # "module:function" giving each weight's keep score; None: filter pruning
    structured: bool = False  # removes whole output filters (rows of the mask)
    # Scores the whole network on training batches at initialisation (lottery/pruning/at_init.py):
    # `scores(scoring) -> {layer: tensor}` instead of `scores(layer, generator)`.
    network: bool = False


OPTIMIZERS = {"adam": "torch.optim:Adam", "adamw": "torch.optim:AdamW", "sgd": "torch.optim:SGD"}

PRUNERS = {
    "l1_filter": PrunerChoice(("layer",), None, structured=True),
    "magnitude": PrunerChoice(("layer", "global"), "rlth_runner.lottery.pruning.magnitude:scores"),
    "random": PrunerChoice(("layer", "global"), "rlth_runner.lottery.pruning.random:scores"),
    "snip": PrunerChoice(("layer", "global"), "rlth_runner.lottery.pruning.snip:scores", network=True),
    "grasp": PrunerChoice(("layer", "global"), "rlth_runner.lottery.pruning.grasp:scores", network=True),
    "synflow": PrunerChoice(("layer", "global"), "rlth_runner.lottery.pruning.synflow:scores", network=True),
}

SCHEDULES = {
    "imp": "rlth_runner.lottery.pruning.density_schedules:imp",
    "level": "rlth_runner.lottery.pruning.density_schedules:level",
    "one_shot": "rlth_runner.lottery.pruning.density_schedules:one_shot",
    "target": "rlth_runner.lottery.pruning.density_schedules:target",
    "gradual": "rlth_runner.lottery.pruning.density_schedules:gradual",
}

# `train.schedule.name`: the learning rate's decay over a round (training/lr_schedules.py, torch-free).
LR_SCHEDULES = {
    "constant": "rlth_runner.training.lr_schedules:constant",
    "step": "rlth_runner.training.lr_schedules:step",
    "cosine": "rlth_runner.training.lr_schedules:cosine",
}

# `train.budget`: how many steps each round trains (lottery/budget.py).
BUDGETS = ("fixed", "cumulative", "flops")

# `train.mode`: what a fit trains: the weights, or a score per weight that picks a
# subnetwork of the frozen weights (training/edge_popup.py).
TRAIN_MODES = ("weights", "edge_popup")

# Each policy module must stay torch-free at import: validation loads it for `check`.
POLICIES = {
    "reset": "rlth_runner.lottery.policies.reset:Reset",
    "rewind": "rlth_runner.lottery.policies.rewind:Rewind",
    "finetune": "rlth_runner.lottery.policies.finetune:Finetune",
    "reinit": "rlth_runner.lottery.policies.reinit:Reinit",
    "random_mask": "rlth_runner.lottery.policies.random_mask:RandomMask",
    "grow": "rlth_runner.lottery.policies.grow:Grow",
    "lr_rewind": "rlth_runner.lottery.policies.lr_rewind:LrRewind",
}

# `branch.kind`: controls trained off a lottery run's rounds (lottery/branches/).
BRANCHES = {
    "reinit": "rlth_runner.lottery.branches.kinds:Reinit",
    "random_prune": "rlth_runner.lottery.branches.kinds:RandomPrune",
    "retrain": "rlth_runner.lottery.branches.kinds:Retrain",
    "shuffle_layerwise": "rlth_runner.lottery.branches.sanity:ShuffleLayerwise",
    "invert": "rlth_runner.lottery.branches.sanity:Invert",
}

# A dataset's `task` picks the LightningModule that trains on it.
TASKS = {"classification": "rlth_runner.training.tasks:Classifier", "regression": "rlth_runner.training.tasks:Regressor"}

# `hardware.accelerator`: the devices rlth-run puts its data on (data/load.py
# device_for); whether this machine has one is cluster/hardware.py's check.
ACCELERATORS = ("cpu", "gpu", "cuda", "mps", "auto")
# `hardware.precision`: Lightning's precision names.
PRECISIONS = ("32-true", "64-true", "16-true", "16-mixed", "bf16-true", "bf16-mixed")
# `hardware.strategy`: auto is one process; ddp is hardware.devices processes
# (rlth_runner/cluster/distributed/ starts them, never Lightning's script launcher).
STRATEGIES = ("auto", "ddp")
# `hardware.deterministic`: Lightning's Trainer(deterministic=...).
DETERMINISTIC = (False, True, "warn")

STOP_METRICS = ("val_acc", "test_acc")
# `optimized_metric`: keys of the last round's record (record.py) a sweeper may optimise, and the
# former names of renamed ones, which sweeps written before the rename still give.
OPTIMIZED_METRICS = RoundRecord.shown_in(OPTIMIZABLE)
OPTIMIZED_METRIC_ALIASES = {old: new for old, new in FORMER_KEYS.items() if new in OPTIMIZED_METRICS}
VERIFY_REFERENCES = ("dense", "final", "target")


def resolve(table: dict, name: str, what: str):
    """The implementation `table[name]` points to; KeyError naming the choices if there is none."""
    try:
        entry = table[name]
    except KeyError:
        raise KeyError(f"unknown {what} {name!r}; choose one of {', '.join(table)}") from None
    path = entry if isinstance(entry, str) else entry.scores
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)
