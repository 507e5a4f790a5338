"""How dense each layer should be after each round.

A schedule maps (round k, per-round sparsity p, horizon n) to the density a
layer should have after round k's pruning, or None when round k does not
prune. `p` is the layer's own rate: `pruner.sparsity`, or its entry in
`pruner.layer_rates`. `n` is the number of pruning rounds `target` spreads
its pruning over.

Pure Python; config/choices.py lists the names.
"""

from __future__ import annotations

import math

from ...config import choices


def imp(k: int, p: float, n: int = 1) -> float:
    """Remove `p` of the remaining weights every round: (1 - p)^k."""
    return (1.0 - p) ** k


def level(k: int, p: float, n: int = 1) -> float:
    """Every round prunes every layer to sparsity `p` (NNI's LevelPruner).

    A layer already at that level loses nothing; a layer that is denser (one
    added by a growth policy, say) is pruned to it.
    """
    return 1.0 - p


def target(k: int, p: float, n: int = 1) -> float:
    """Reach sparsity `p` after `n` pruning rounds, removing the same fraction
    of the remaining weights each round; later rounds hold that density."""
    return (1.0 - p) ** (min(k, n) / n)


def one_shot(k: int, p: float, n: int = 1) -> float | None:
    """Prune once, to sparsity `p`, after round 0; later rounds retrain the
    same subnetwork without pruning (layers added later stay dense)."""
    return 1.0 - p if k == 1 else None


def gradual(k: int, p: float, n: int = 1) -> None:
    """No pruning between rounds: `gradual` prunes inside each round's fit
    (training/gradual.py, Zhu & Gupta 2017), from `initial_sparsity` to `p`."""
    return None


def get(name: str):
    return choices.resolve(choices.SCHEDULES, name, "pruning schedule")


def target_count(size: int, density: float) -> int:
    """Weights a layer of `size` keeps at `density`; rounds half up, deterministically."""
    return int(math.floor(size * density + 0.5))
