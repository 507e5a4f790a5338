"""The settings that decide a run's results, so that a run directory never
mixes two runs. Torch-free.

`settings(cfg)` is the composed config, flattened to dotted keys, without the
keys that may change between invocations of one run (SAFE): more `rounds`,
the stopping rules, `verify`, where files go, and keys that change no number
(logging, threads, the chunk size of steps per Lightning iteration, whether
a download is allowed).
`rlth-run` stores the settings in the run directory on its first invocation
(storage/rundir.py) and refuses to continue it with others, naming the keys.
"""

from __future__ import annotations

import hashlib
import json

from omegaconf import OmegaConf

# Keys (or prefixes ending in ".") that a re-run in the same directory may change.
# The validation grid and the analyses measure the training without changing it (no weight, no random stream).
SAFE = ("rounds", "optimized_metric", "stop.", "verify.", "paths.", "checkpoint.", "hardware.num_threads", "train.log_every_n_steps",
        "train.steps_per_block", "dataset.download", "train.eval_every_n_steps", "train.target_error", "analysis.",
        "branch.from", "branch.rounds",  # a branch lives inside its parent; its rounds are independent of each other
        "replicas")  # how many seeds a job batches: each seed's own directory records replicas=1


# Keys added after runs were made, with the value that older versions behaved
# as: a run directory whose fingerprint lacks one continues if this command
# keeps that value (a run made before `hardware.strategy` existed was `auto`).
ADDED = {"hardware.strategy": "auto", "hardware.deterministic": False, "branch.kind": None, "branch.seed": None,
         # before learning-rate schedules and round budgets: a constant rate, rounds of a fixed length
         "train.schedule.name": "constant", "train.schedule.warmup_steps": 0, "train.schedule.milestones": [],
         "train.schedule.gamma": 0.1, "train.schedule.min_lr_factor": 0.0, "train.budget": "fixed", "train.budget_cap": 10,
         "train.distance_reg": 0.0,  # before the learning-distance term: none
         # before edge-popup: the weights were what trained, and the density was not read
         "train.mode": "weights", "train.edge_popup.density": 0.5,
         # before pruning at initialisation: none, and these keys were not read
         "pruner.at_init": False, "pruner.batches": 10, "pruner.iterations": 100,
         "model.dropout": 0.0,  # before model.dropout: none
         "pruner.gradual.start_step": 0, "pruner.gradual.end_step": 100, "pruner.gradual.frequency": 10,
         "pruner.gradual.power": 3, "pruner.gradual.initial_sparsity": 0.0}  # read only by schedule: gradual, added later


def _flatten(node, prefix: str = "") -> dict:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out or {prefix[:-1]: {}}
    return {prefix[:-1]: node}


def is_safe(key: str) -> bool:
    return any(key == s or (s.endswith(".") and key.startswith(s)) for s in SAFE)


def settings(cfg) -> dict:
    flat = _flatten(OmegaConf.to_container(cfg, resolve=True))
    kept = {k: v for k, v in flat.items() if not is_safe(k)}
    # `schedule: target` spreads its pruning over rounds - 1 unless target_rounds
    # is set, so there `rounds` decides every mask: fix the horizon it implies.
    if kept.get("pruner.schedule") == "target" and kept.get("pruner.target_rounds") is None:
        kept["pruner.target_rounds"] = max(1, cfg.rounds - 1)
    # A config from before a key existed behaved as its ADDED value: say so, so that it compares equal.
    return dict(sorted({**ADDED, **kept}.items()))


def digest(values: dict) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:16]


def differences(stored: dict, current: dict) -> list[str]:
    """`key=old (now: new)` for each key whose value differs, in key order."""
    missing = object()
    out = []
    for key in sorted(set(stored) | set(current)):
        old, new = stored.get(key, missing), current.get(key, missing)
        if old is missing and key in ADDED and new == ADDED[key]:
            continue
        if old != new:
            show = lambda v: "unset" if v is missing else json.dumps(v, default=str)  # noqa: E731
            out.append(f"{key}={show(old)} (this command: {show(new)})")
    return out
