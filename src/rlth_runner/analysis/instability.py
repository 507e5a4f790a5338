"""Linear mode connectivity (Frankle et al. 2020, "Linear mode connectivity and
the lottery ticket hypothesis"): two copies of a network trained from one
starting point with different batch orders are *stable* when the error along
the straight line between their weights is no higher than at its ends.

`error_path` evaluates the error at evenly spaced points of that line;
`barrier` is its height, the maximum along the path minus the mean of the two
ends. The runner's instability analysis (`analysis.instability`, run/fitting.py)
builds on these.
"""

from __future__ import annotations

import torch
from torch import nn

from ..lottery.pruning import masks


def interpolate(a: dict, b: dict, alpha: float) -> dict:
    """(1 - alpha) * a + alpha * b for floating-point tensors; masks and integer
    buffers (counters) are taken from `a`, which must share them with `b`."""
    out = {}
    for key, value in a.items():
        if torch.is_floating_point(value) and not key.endswith(masks.MASK):
            out[key] = torch.lerp(value, b[key].to(value.device, value.dtype), alpha)
        else:
            out[key] = value
    return out


@torch.no_grad()
def error_path(net: nn.Module, a: dict, b: dict, loader, points: int = 11) -> list[tuple[float, float]]:
    """(alpha, classification error) at `points` evenly spaced alphas from a (0) to b (1).
    `net` is left holding `a`'s weights, in the mode it had."""
    from ..training.early_stop import eval_mode, evaluate

    if points < 2:
        raise ValueError(f"points={points}: the path needs both ends")
    # state_dict() tensors share storage with the parameters that each point overwrites
    a, b = ({key: value.detach().clone() for key, value in state.items()} for state in (a, b))
    path = []
    with eval_mode(net):
        try:
            for i in range(points):
                alpha = i / (points - 1)
                net.load_state_dict(interpolate(a, b, alpha))
                path.append((alpha, 1.0 - evaluate(net, loader)[1]))
        finally:
            net.load_state_dict(a)
    return path


def barrier(path: list[tuple[float, float]]) -> float:
    """The error barrier: the highest error along the path minus the mean error of its two ends."""
    return max(error for _, error in path) - (path[0][1] + path[-1][1]) / 2
