"""What each branch kind trains at round k: which mask, which starting values,
which batch order (branches/__init__.py lists the kinds)."""

from __future__ import annotations

import torch
from torch import nn

from ... import seeds
from ...config import choices
from ...storage.rundir import RunDir
from ..policies.base import load_weights
from ..pruning import masks


class Kind:
    """One branch kind. `start(net, k)` sets round k's mask and starting values
    in `net` (the parent's architecture); `batch_seed(k)` is its batch order."""

    def __init__(self, parent: RunDir, parent_start: str, seed: int, branch_seed: int, build_model, pruner_cfg, data=None, batch_size=None):
        self.parent, self.parent_start = parent, parent_start  # Policy.starts_from of the parent's policy
        self.seed, self.branch_seed = seed, branch_seed  # the parent's seed; the branch's own draws
        self.build_model, self.pruner = build_model, pruner_cfg
        self.data, self.batch_size = data, batch_size  # what invert rescores a network pruner on (sanity.py)

    def start(self, net: nn.Module, k: int) -> None:
        self.set_masks(net, k)
        load_weights(net, self.starting_values(k))
        masks.apply(net)

    def set_masks(self, net: nn.Module, k: int) -> None:
        load_masks(net, self.parent.load_masks(k))

    def starting_values(self, k: int) -> dict:
        """The weights the parent's rounds start from: its initialisation, or round 0's rewind point."""
        return self.parent.load_rewind() if self.parent_start == "rewind" else self.parent.load_init()

    def batch_seed(self, k: int) -> int:
        """The parent's batch order: the control changes the mask or the values, nothing else."""
        return seeds.derive(self.seed, "train", k)


class Reinit(Kind):
    def starting_values(self, k: int) -> dict:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seeds.derive(self.branch_seed, "reinit", k))
            return self.build_model().state_dict()


class Retrain(Kind):
    def batch_seed(self, k: int) -> int:
        return seeds.derive(self.branch_seed, "retrain", k)


class RandomPrune(Kind):
    """Each layer ranks its weights (its filters, for a structured pruner) once, at
    random, and round k keeps the first n of them, n being the parent's count in
    that layer at round k: the masks are nested because the counts only fall."""

    def set_masks(self, net: nn.Module, k: int) -> None:
        structured = choices.PRUNERS[self.pruner.name].structured
        chosen = {}
        for i, (name, mask) in enumerate(self.parent.load_masks(k).items()):
            g = torch.Generator().manual_seed(seeds.derive(self.branch_seed, "random_prune", i))
            units = mask.any(dim=tuple(range(1, mask.dim()))) if structured else mask.flatten()
            order = torch.randperm(units.numel(), generator=g)
            keep = torch.zeros(units.numel(), dtype=torch.bool)
            keep[order[: int(units.sum())]] = True
            chosen[name] = keep.view(-1, *[1] * (mask.dim() - 1)).expand_as(mask) if structured else keep.view_as(mask)
        load_masks(net, chosen)


def load_masks(net: nn.Module, chosen: dict[str, torch.Tensor]) -> None:
    layers = masks.masked_layers(net)
    if set(layers) != set(chosen):
        raise KeyError(f"the parent's masks are for layers {sorted(chosen)}, the network has {sorted(layers)}")
    with torch.no_grad():
        for name, layer in layers.items():
            getattr(layer, masks.MASK).copy_(chosen[name].to(layer.weight.device, layer.weight.dtype))


def build(branch_cfg, parent: RunDir, parent_start: str, seed: int, build_model, pruner_cfg, data=None, batch_size=None) -> Kind:
    kind = choices.resolve(choices.BRANCHES, branch_cfg.kind, "branch kind")
    branch_seed = branch_cfg.seed if branch_cfg.seed is not None else seed
    return kind(parent, parent_start, seed, branch_seed, build_model, pruner_cfg, data, batch_size)
