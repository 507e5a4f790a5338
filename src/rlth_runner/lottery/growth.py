"""Inserting a layer into a network: the mechanics behind `policy=grow`
(policies/grow.py decides when and where).

A growable model has a ModuleDict `grow_attr` of hidden layers named
`<grow_prefix><i>`, a `new_layer(init)` method and the tuple `grow_inits` of
the initialisations it supports. A new layer gets the next
unused index, whatever its position, so names never move; the ModuleDict is
rebuilt in the new order. `architecture(net)` records that order, and
`set_architecture` rebuilds it when a checkpoint is loaded.
"""

from __future__ import annotations

import re

import torch
from torch import nn


def is_growable(net: nn.Module) -> bool:
    return hasattr(net, "grow_attr") and hasattr(net, "new_layer")


def hidden(net: nn.Module) -> nn.ModuleDict:
    return getattr(net, net.grow_attr)


def depth(net: nn.Module) -> int | None:
    """Number of hidden layers (MLP) or BasicBlocks (ResNet); None for other models."""
    return len(hidden(net)) if is_growable(net) else None


def architecture(net: nn.Module) -> list[str] | None:
    return list(hidden(net).keys()) if is_growable(net) else None


def _rebuild(net: nn.Module, layers: list[tuple[str, nn.Module]]) -> None:
    setattr(net, net.grow_attr, nn.ModuleDict(layers))


def position(where, current_depth: int) -> int:
    """`last` (before the output), `first` (after the input), or an index into
    the hidden layers, capped at the end."""
    if where == "last":
        return current_depth
    if where == "first":
        return 0
    return min(int(where), current_depth)


def insert(net: nn.Module, where="last", init: str = "identity", seed: int | None = None) -> str:
    """Insert one new hidden layer in place and return its qualified name.

    With `seed`, the new layer's random draws come from their own seeded
    stream, so a resumed run grows exactly the layer an uninterrupted one did.
    """
    layers = list(hidden(net).items())
    used = [int(m.group(1)) for name, _ in layers if (m := re.fullmatch(rf"{net.grow_prefix}(\d+)", name))]
    name = f"{net.grow_prefix}{max(used, default=-1) + 1}"
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        layer = net.new_layer(init)
    ref = next(net.parameters())
    layer.to(device=ref.device, dtype=ref.dtype).train(net.training)
    layers.insert(position(where, len(layers)), (name, layer))
    _rebuild(net, layers)
    return f"{net.grow_attr}.{name}"


def set_architecture(net: nn.Module, order: list[str]) -> None:
    """Make the hidden layers exactly `order`, reusing layers that exist and
    creating the others (their values are expected to be loaded next)."""
    current = dict(hidden(net).items())
    ref = next(net.parameters())
    layers = [(name, current[name] if name in current else net.new_layer("random").to(device=ref.device, dtype=ref.dtype)) for name in order]
    _rebuild(net, layers)
