"""Grouping runs by config keys, never pooling runs whose configs differ in
anything but the seed.

The keys that count are the run's result-deciding settings
(config/fingerprint.py) less `seed`: a group asked for (`--group-by policy`)
whose runs differ in another such key is split into subgroups, one per
config, and `group_runs` says so. With no key asked for, each distinct config
is a group, named by the keys that differ between the runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .runs import ReportError, Run

UNSET = "unset"  # the value of a key a run's config lacks (another model's option)
POOLED = ("seed",)  # the one key runs of a group may differ in
ALIKE = "policy"  # the section whose name labels the one group of runs that share a config


@dataclass
class Group:
    label: str  # `policy=reset, pruner.sparsity=0.2`
    runs: list[Run]

    def __post_init__(self):
        self.runs = sorted(self.runs, key=lambda run: (run.seed is None, run.seed or 0, str(run.path)))

    @property
    def n(self) -> int:
        return len(self.runs)

    @property
    def legend(self) -> str:
        return f"{self.label} (n={self.n})"


def group_runs(runs: list[Run], group_by: list[str] | None) -> tuple[list[Group], list[str]]:
    """The groups, in a stable order, and a note for each group asked for that was split."""
    if not group_by:
        keys = differing(runs)
        names = {key: shown(key) for key in keys} if keys else {f"{ALIKE}.name": ALIKE}
        return _named(_split(runs, list(names)), names), []
    asked = {resolve_key(runs, key): key for key in group_by}
    groups, notes = [], []
    for values, members in sorted(_split(runs, list(asked)).items(), key=lambda item: _order(item[0])):
        extra = [key for key in differing(members) if key not in asked]
        if not extra:
            groups.append(Group(_label(asked, values), members))
            continue
        parts = _split(members, extra)
        names = {**asked, **{key: shown(key) for key in extra}}
        split = _named({values + sub: group for sub, group in parts.items()}, names, tuple(asked))
        groups += split
        notes.append(f"split {_label(asked, values)} into {len(split)} groups: they differ in {_describe(members, extra)}")
    return groups, notes


def differing(runs: list[Run]) -> list[str]:
    """The result-deciding keys whose value is not the same in every run, seed aside:
    `.name` keys (which model, which policy) first, then the options, each sorted."""
    keys = {key for run in runs for key in run.settings} - set(POOLED)
    varied = [key for key in keys if len({_hashable(run.settings.get(key, UNSET)) for run in runs}) > 1]
    return sorted(varied, key=lambda key: (not key.endswith(".name"), key))


def resolve_key(runs: list[Run], key: str) -> str:
    """The flat config key that `key` names: itself, or `<section>.name` for a section
    with a name (`policy` means the policy's `name`)."""
    configs = [run.config for run in runs]
    if any(key in config for config in configs):
        return key
    if any(f"{key}.name" in config for config in configs):
        return f"{key}.name"
    inside = sorted({k for config in configs for k in config if k.startswith(f"{key}.")})
    if inside:
        raise ReportError(f"--group-by {key}: a section of the config, not one value; name a key in it, e.g. {inside[0]}")
    raise ReportError(f"--group-by {key}: no run's config has this key (keys look like policy, pruner.sparsity, train.lr)")


def shown(key: str) -> str:
    """How a label names a key: a section's `name` by the section (`policy=reset`)."""
    return key.removesuffix(".name") if key.endswith(".name") else key


def _value(run: Run, key: str):
    """A setting as the fingerprint has it (`pruner.target_rounds` filled in for the target
    schedule), or else as the config says (a key that decides no result, asked for by name)."""
    return run.settings.get(key, run.config.get(key, UNSET))


def _split(runs: list[Run], keys: list[str]) -> dict[tuple, list[Run]]:
    out: dict[tuple, list[Run]] = {}
    for run in runs:
        out.setdefault(tuple(_hashable(_value(run, key)) for key in keys), []).append(run)
    return out


def _named(parts: dict[tuple, list[Run]], names: dict[str, str], asked: tuple[str, ...] = ()) -> list[Group]:
    """Groups labelled by `names` (flat key -> shown name), less the options that only some
    variants of a named section have, where its name tells the groups apart already
    (`policy=grow` rather than `policy=grow, policy.every=2` beside `policy.every=unset`)."""
    keys = list(names)
    shown_keys = list(keys)
    for i in reversed(range(len(keys))):
        section = keys[i].rpartition(".")[0]
        if keys[i] in asked or f"{section}.name" not in names or keys[i] == f"{section}.name":
            continue
        if UNSET in {values[i] for values in parts}:
            trial = [k for k in shown_keys if k != keys[i]]
            if len({tuple(values[keys.index(k)] for k in trial) for values in parts}) == len(parts):
                shown_keys = trial
    ordered = sorted(parts.items(), key=lambda item: _order(item[0]))
    return [Group(_label({k: names[k] for k in shown_keys}, tuple(values[keys.index(k)] for k in shown_keys)), members)
            for values, members in ordered]


def _label(names: dict[str, str], values: tuple) -> str:
    return ", ".join(f"{name}={_text(value)}" for name, value in zip(names.values(), values))


def _describe(runs: list[Run], keys: list[str]) -> str:
    parts = []
    for key in keys:
        values = sorted({_hashable(_value(run, key)) for run in runs}, key=_order_one)
        shown_values = ", ".join(_text(v) for v in values[:6]) + (", ..." if len(values) > 6 else "")
        parts.append(f"{key} ({shown_values})")
    return " and ".join(parts) if len(parts) < 3 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _hashable(value):
    return json.dumps(value, sort_keys=True) if isinstance(value, (list, dict)) else value


def _text(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if isinstance(value, float) else str(value)


def _order_one(value) -> tuple:
    """Numbers in numeric order before text; `unset` and null last."""
    if value in (UNSET, None):
        return (2, "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))


def _order(values: tuple) -> tuple:
    return tuple(_order_one(value) for value in values)
