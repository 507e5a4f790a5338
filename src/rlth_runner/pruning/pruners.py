"""The `pruner` config group: which weights each round removes.

    magnitude   smallest |w| first; `scope: layer` ranks within each layer,
                `scope: global` ranks all layers together (global_magnitude)
    random      uniformly at random, seeded: the control with the same counts
    l1_filter   whole output filters with the smallest L1 norm (Li et al.)

Each layer's target density comes from the schedule with the layer's own rate:
the first `layer_rates` pattern its name matches, else `sparsity`. Under
`scope: global`, layers with an override are pruned on their own at their
rate and all the others share one ranking and one exact total count.
"""

from __future__ import annotations

import torch
from torch import nn

from . import magnitude, masks, random, schedules, structured

PRUNERS = {"magnitude": magnitude.scores, "random": random.scores, "l1_filter": None}


def layer_rate(name: str, pcfg) -> tuple[float, bool]:
    """(per-round rate of this layer, whether an override set it)."""
    for pattern, rate in (pcfg.get("layer_rates") or {}).items():
        if masks.matches(name, [pattern]):
            return float(rate), True
    return float(pcfg.sparsity), False


def horizon(pcfg, rounds: int) -> int:
    """The number of pruning rounds `schedule: target` spreads its pruning over."""
    n = pcfg.get("target_rounds")
    return max(1, n if n is not None else rounds - 1)


def densities(net: nn.Module, pcfg, k: int, rounds: int) -> dict[str, float | None]:
    """Each masked layer's target density after round k (None: not pruned this round)."""
    schedule = schedules.get(pcfg.schedule)
    n = horizon(pcfg, rounds)
    return {name: schedule(k, layer_rate(name, pcfg)[0], n) for name in masks.masked_layers(net)}


def unmatched_patterns(net: nn.Module, pcfg) -> list[str]:
    """`layer_rates`, `include` and `exclude` entries that name no prunable layer: typos."""
    names = list(masks.prunable_layers(net, pcfg.layer_types))
    bad = []
    for key in ("layer_rates", "include", "exclude"):
        for pattern in pcfg.get(key) or ():
            if not any(masks.matches(n, [pattern]) for n in names):
                bad.append(f"pruner.{key}: {pattern!r}")
    return bad


@torch.no_grad()
def prune(net: nn.Module, pcfg, k: int, rounds: int, seed: int) -> dict[str, int]:
    """Round k's pruning, in place. Returns the weights removed per layer."""
    layers = masks.masked_layers(net)
    targets = densities(net, pcfg, k, rounds)
    removed = {name: 0 for name in layers}
    if pcfg.name == "l1_filter":
        for name, d in targets.items():
            if d is not None:
                removed[name] = structured.prune_filters(layers[name], d)
    else:
        score_fn = PRUNERS[pcfg.name]
        generator = torch.Generator().manual_seed(schedules.derived_seed(seed, k, "prune"))
        shared = {n: layers[n] for n, d in targets.items() if d is not None and pcfg.scope == "global" and not layer_rate(n, pcfg)[1]}
        if shared:
            removed.update(magnitude.prune_group(shared, targets[next(iter(shared))], score_fn, generator))
        for name, d in targets.items():
            if d is not None and name not in shared:
                removed.update(magnitude.prune_group({name: layers[name]}, d, score_fn, generator))
    masks.apply(net)
    return removed
