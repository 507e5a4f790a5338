"""Pruning masks as explicit buffers on the layers they prune.

Each prunable module carries a `weight_mask` buffer (1 = kept, 0 = pruned) of
the weight's shape. Buffers travel with `state_dict`, so a checkpoint holds
its masks, and they stay attached to their layer by name when layers are
inserted elsewhere in the network. Masks are enforced by multiplying the
weights in place, never with forward hooks (`torch.nn.utils.prune`), which
cost a second copy of every weight per forward pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

import torch
from torch import nn

MASK = "weight_mask"


def prunable_layers(model: nn.Module, layer_types: Iterable[str]) -> dict[str, nn.Module]:
    """Modules whose class name is in `layer_types`, by qualified name, in model order."""
    wanted = set(layer_types)
    return {name: m for name, m in model.named_modules() if type(m).__name__ in wanted and getattr(m, "weight", None) is not None}


def matches(name: str, patterns: Iterable[str] | None) -> bool:
    """Whether a qualified layer name matches any fnmatch pattern (`hidden.*`)."""
    return any(fnmatchcase(name, pattern) for pattern in patterns or ())


def select(model: nn.Module, layer_types: Iterable[str], include=None, exclude=None) -> dict[str, nn.Module]:
    """Prunable layers of `layer_types`, limited to names matching `include`
    (unset or empty: all of them) and not matching `exclude`."""
    return {
        name: m
        for name, m in prunable_layers(model, layer_types).items()
        if (not include or matches(name, include)) and not matches(name, exclude)
    }


def attach(model: nn.Module, layer_types: Iterable[str], include=None, exclude=None) -> dict[str, nn.Module]:
    """Give every prunable layer a dense mask unless it already has one.

    Safe to call again after layers were inserted: only the new ones get a mask.
    """
    layers = select(model, layer_types, include, exclude)
    for layer in layers.values():
        if not hasattr(layer, MASK):
            layer.register_buffer(MASK, torch.ones_like(layer.weight, dtype=layer.weight.dtype))
    return layers


def masked_layers(model: nn.Module) -> dict[str, nn.Module]:
    return {name: m for name, m in model.named_modules() if hasattr(m, MASK)}


def get(model: nn.Module) -> dict[str, torch.Tensor]:
    """The current masks as boolean tensors, by layer name."""
    return {name: getattr(m, MASK).detach().bool().cpu() for name, m in masked_layers(model).items()}


@torch.no_grad()
def apply(model: nn.Module) -> None:
    """Zero every pruned weight in place."""
    for layer in masked_layers(model).values():
        layer.weight.mul_(getattr(layer, MASK))


class MaskApplier:
    """`apply` with the (weight, mask) pairs gathered once, for the per-step hot path.

    Layers whose mask prunes nothing (all of round 0, a freshly grown layer)
    and frozen weights are left out: they cannot need re-zeroing. Masks must not change
    while an applier is in use; build a new one after pruning.
    """

    def __init__(self, model: nn.Module):
        pairs = [(layer.weight, getattr(layer, MASK)) for layer in masked_layers(model).values()]
        # Frozen weights (train.mode=edge_popup) never move, so they never need re-zeroing either.
        pairs = [(w, m) for w, m in pairs if w.requires_grad and not bool(m.all())]
        self.weights = [w for w, _ in pairs]
        self.masks = [m for _, m in pairs]

    @torch.no_grad()
    def __call__(self) -> None:
        if self.weights:
            torch._foreach_mul_(self.weights, self.masks)


def counts(model: nn.Module) -> dict[str, tuple[int, int]]:
    """(kept, total) weights per masked layer."""
    return {name: (int(getattr(m, MASK).count_nonzero()), getattr(m, MASK).numel()) for name, m in masked_layers(model).items()}


def density(model: nn.Module) -> float:
    kept, total = map(sum, zip(*counts(model).values())) if masked_layers(model) else (0, 0)
    return kept / total if total else 1.0
