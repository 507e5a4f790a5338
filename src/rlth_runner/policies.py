"""What happens to the weights after each round's pruning.

A policy is a function (net, store) -> None that sets the pruned network's
weights for the next round. The new masks are already in place.
"""

from __future__ import annotations

from torch import nn

from . import growth
from .pruning import masks
from .store import RunStore


def load_weights(net: nn.Module, state: dict) -> None:
    """Load every tensor of `state` except the masks, which belong to the current round."""
    weights = {k: v for k, v in state.items() if not k.endswith(masks.MASK)}
    missing, unexpected = net.load_state_dict(weights, strict=False)
    missing = [k for k in missing if not k.endswith(masks.MASK)]
    if missing or unexpected:
        raise KeyError(f"saved weights do not fit the network: missing {missing}, unexpected {unexpected}")


def reset(net: nn.Module, store: RunStore) -> None:
    """Frankle & Carbin: rewind the surviving weights to their initial values."""
    load_weights(net, store.load_init())
    masks.apply(net)


POLICIES = {"reset": reset, "grow": growth.keep}


def get(name: str):
    try:
        return POLICIES[name]
    except KeyError:
        raise KeyError(f"unknown policy {name!r}; choose one of {sorted(POLICIES)}") from None
