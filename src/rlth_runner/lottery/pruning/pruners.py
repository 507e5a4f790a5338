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

from ... import seeds
from ...config import ConfigError, choices
from . import density_schedules, magnitude, masks, structured


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
    schedule = density_schedules.get(pcfg.schedule)
    n = horizon(pcfg, rounds)
    return {name: schedule(k, layer_rate(name, pcfg)[0], n) for name in masks.masked_layers(net)}


def attach_masks(net: nn.Module, pcfg) -> dict[str, nn.Module]:
    """Give prunable layers (`layer_types`, `include`, `exclude`) a dense mask;
    layers that already have one, including every layer of a resumed or grown
    network, keep theirs."""
    return masks.attach(net, pcfg.layer_types, pcfg.get("include"), pcfg.get("exclude"))


def check_layers(net: nn.Module, pcfg, model_name: str, rounds: int) -> None:
    """ConfigError if a `layer_rates`, `include` or `exclude` pattern names no
    prunable layer of `net` (a typo), or if nothing is left to prune."""
    names = list(masks.prunable_layers(net, pcfg.layer_types))
    for key in ("layer_rates", "include", "exclude"):
        for pattern in pcfg.get(key) or ():
            if not any(masks.matches(n, [pattern]) for n in names):
                raise ConfigError(f"pruner.{key}: {pattern!r} matches no prunable layer of model {model_name}; "
                                  f"its prunable layers are: {', '.join(names) or 'none'}")
    if rounds > 1 and not masks.select(net, pcfg.layer_types, pcfg.get("include"), pcfg.get("exclude")):
        raise ConfigError(f"pruner.layer_types={list(pcfg.layer_types)} selects no layer of model {model_name}; nothing to prune")


@torch.no_grad()
def prune(net: nn.Module, pcfg, k: int, rounds: int, seed: int) -> dict[str, int]:
    """Round k's pruning, in place. Returns the weights removed per layer.
    A pruner at initialisation (`at_init`, lottery/pruning/at_init.py) pruned before
    round 0 and prunes nothing after it: later rounds retrain its subnetwork."""
    if pcfg.get("at_init"):
        return {name: 0 for name in masks.masked_layers(net)}
    generator = torch.Generator().manual_seed(seeds.derive(seed, "prune", k))
    return prune_to(net, pcfg, densities(net, pcfg, k, rounds), generator)


@torch.no_grad()
def prune_to(net: nn.Module, pcfg, targets: dict[str, float | None], generator, score_fn=None) -> dict[str, int]:
    """Prune each layer to its target density (None: leave it), with the pruner's
    ranking (`score_fn`, default the pruner's own per-layer score), in place."""
    layers = masks.masked_layers(net)
    removed = {name: 0 for name in layers}
    if choices.PRUNERS[pcfg.name].structured:
        for name, d in targets.items():
            if d is not None:
                removed[name] = structured.prune_filters(layers[name], d)
    else:
        score_fn = score_fn or choices.resolve(choices.PRUNERS, pcfg.name, "pruner")
        shared = {n: layers[n] for n, d in targets.items() if d is not None and pcfg.scope == "global" and not layer_rate(n, pcfg)[1]}
        if shared:
            removed.update(magnitude.prune_group(shared, targets[next(iter(shared))], score_fn, generator))
        for name, d in targets.items():
            if d is not None and name not in shared:
                removed.update(magnitude.prune_group({name: layers[name]}, d, score_fn, generator))
    masks.apply(net)
    return removed
