"""How dense each layer should be after each round.

Pure Python on purpose: the config validator imports this before torch.
"""

from __future__ import annotations

import math


def imp(round_index: int, sparsity: float) -> float:
    """Remove `sparsity` of the remaining weights every round."""
    return (1.0 - sparsity) ** round_index


SCHEDULES = {"imp": imp}


def get(name: str):
    try:
        return SCHEDULES[name]
    except KeyError:
        raise KeyError(f"unknown pruning schedule {name!r}; choose one of {sorted(SCHEDULES)}") from None


def target_count(size: int, density: float) -> int:
    """Weights a layer of `size` keeps at `density`; rounds half up, deterministically."""
    return int(math.floor(size * density + 0.5))
