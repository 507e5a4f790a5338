"""Branches: control experiments trained off an existing lottery run, as
open_lth's branches are (Frankle & Carbin's controls take the *ticket's*
masks, level by level, rather than running their own pruning).

    rlth-run branch=reinit branch.from=outputs/2026-11-24/10-00-00

For each of the parent's pruned rounds k (or `branch.rounds`), the branch
trains one network and records it as its own round k:

    reinit        the parent's round-k mask, fresh random initial values
    random_prune  a random mask with the parent's per-layer counts at round k,
                  nested across rounds, from the parent's starting values
    retrain       the parent's round-k mask and starting values, a new batch
                  order: a replicate of the ticket
    shuffle_layerwise  the parent's round-k mask permuted within each layer
    invert        per layer, the parent's count of the weights its pruner scored
                  lowest (sanity.py says which scores, among which weights)

A branch lives with its parent, in `<parent>/branches/<kind>` (with
`branch.seed` set, `<kind>_seed=<seed>`), and is a run directory like any
other: it resumes, refuses other settings, and `rlth-report <parent>` finds
it. It trains with the parent's settings, read from the parent's config;
the command line may change only what changes no result (hardware, threads,
checkpoints, analyses).

This module is torch-free: the config is settled before torch is imported.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from ...config import ConfigError, choices, fingerprint, policy_class
from ...storage.rundir import RunDir

def directory(parent: str | Path, kind: str, seed: int | None) -> Path:
    """Where a branch of `parent` lives (absolute: the same from any working directory)."""
    name = kind if seed is None else f"{kind}_seed={seed}"
    return RunDir(Path(parent).absolute(), writer=False).branch_dir(name)


def is_branch(cfg) -> bool:
    return (cfg.get("branch") or {}).get("kind") is not None


def run_dir(default: str, *, _root_) -> str:
    """`hydra.run.dir` (the `rlth_run_dir` resolver, entry/conf.py): a branch's own directory, else `default`."""
    branch = _root_.get("branch")
    return str(directory(branch["from"], branch.kind, branch.seed)) if is_branch(_root_) else default


def settle(cfg: DictConfig, overrides: list[str]) -> DictConfig:
    """The config a branch trains with: its parent's, with the command's `branch`,
    `paths` and the overrides that change no result. ConfigError for any other."""
    b = cfg.branch
    choice_line = ", ".join(choices.BRANCHES)
    if b.kind not in choices.BRANCHES:
        raise ConfigError(f"branch.kind={b.kind!r} is not one of: {choice_line}")
    made_with, settled = _parent_settings(b["from"], cfg)
    if b.kind == "invert" and settled.pruner.name == "random":
        raise ConfigError(f"branch=invert: pruner={settled.pruner.name} (of {b['from']}) ranks weights by no score, so there is nothing to invert")
    rounds(b, RunDir(Path(b["from"]), writer=False))  # the rounds exist: a ConfigError now, not after torch is loaded
    refused = [key for key in _keys(overrides) if not _may_change(key)]
    if refused:
        raise ConfigError(f"{', '.join(refused)}: a branch trains with its parent's settings ({b['from']}); the command may set "
                          "only branch.*, hardware, hardware.*, and keys that change no result "
                          f"({', '.join(s.rstrip('.') for s in fingerprint.SAFE)})")
    with open_dict(settled):
        settled.branch = b
        settled.paths = cfg.paths
        if "paths.data_dir" not in _keys(overrides) and "paths" not in _keys(overrides):  # the data the parent trained on
            settled.paths.data_dir = OmegaConf.to_container(made_with, resolve=False).get("paths", {}).get("data_dir", cfg.paths.data_dir)
        for key in _keys(overrides):
            if not key.startswith("branch"):
                OmegaConf.update(settled, key, OmegaConf.select(cfg, key), force_add=True)
    return settled


def parent_config(source: str | Path) -> DictConfig:
    """The config the run at `source` was made with; ConfigError unless that is a lottery run's whole copy
    (checked against the parent's ledger, read only: a branch never repairs its parent)."""
    parent = RunDir(Path(source), writer=False)
    if not parent.config_path.exists():
        raise ConfigError(f"branch.from={source}: no run there ({parent.config_path} is missing); give a run directory that rlth-run made")
    if problem := parent.damage(parent.config_path):
        raise ConfigError(f"branch.from={source}: {problem}; run the parent's own command again "
                          f"(rlth-run resume={parent.root.absolute()}) to restore it, then branch")
    made_with = OmegaConf.load(parent.config_path)
    if is_branch(made_with):
        raise ConfigError(f"branch.from={source} is itself a branch; branch off the lottery run it came from")
    return made_with


def check_parent(source: str | Path, composed: DictConfig, branch_rounds) -> None:
    """What `settle` checks of a parent, for a sweep's parents before any job makes a branch directory in one."""
    _parent_settings(source, composed)
    rounds(OmegaConf.create({"from": str(source), "rounds": branch_rounds}), RunDir(Path(source), writer=False))


def _parent_settings(source: str | Path, composed: DictConfig) -> tuple[DictConfig, DictConfig]:
    """The parent's config, and it over this version's defaults; ConfigError for a parent no branch can take."""
    made_with = parent_config(source)
    settled = _over_defaults(made_with, composed)
    if policy_class(settled.policy).starts_from is None:
        raise ConfigError(f"branch.from={source} was made with policy={settled.policy['name']}; branches need a parent whose rounds "
                          "start from fixed weights, its initialisation or a rewind point (policy=reset or rewind)")
    return made_with, settled


# Config groups whose options differ in their keys: the parent's option is taken whole.
WHOLE = ("dataset", "model", "pruner", "policy")


def _over_defaults(parent_cfg: DictConfig, composed: DictConfig) -> DictConfig:
    """The parent's config over this version's defaults, so that a key added since the
    parent was made has its default (the value that means what the parent did)."""
    base = OmegaConf.to_container(composed, resolve=False)
    for group in WHOLE:
        base.pop(group, None)
    return OmegaConf.merge(OmegaConf.create(base), parent_cfg)


def rounds(branch_cfg, parent: RunDir) -> list[int]:
    """The parent's rounds the branch trains: `branch.rounds`, or every pruned round it finished."""
    finished = 0
    while parent.is_done(finished):
        finished += 1
    wanted = list(branch_cfg.rounds) if branch_cfg.rounds is not None else list(range(1, finished))
    if not wanted:
        raise ConfigError(f"branch.from={branch_cfg['from']} has no finished pruned round to branch from "
                          f"({'round 0 only' if finished else 'no round'} is done)")
    if missing := [k for k in wanted if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < finished]:
        raise ConfigError(f"branch.rounds={list(branch_cfg.rounds)}: the parent has no finished round {missing[0]} "
                          f"(its rounds 0-{finished - 1} are done)" if finished else f"branch.from={branch_cfg['from']} has no finished round")
    return sorted(set(wanted))


def _keys(overrides: list[str]) -> list[str]:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    return [o.key_or_group.lstrip("+~") for o in parsed if not o.key_or_group.startswith("hydra")]


def _may_change(key: str) -> bool:
    return key.split(".")[0] in ("branch", "hardware") or fingerprint.is_safe(key)
