"""`train.mode=edge_popup`: find a subnetwork of the random weights instead of
training them (Ramanujan et al. 2020, "What's hidden in a randomly weighted
neural network?"; the strong lottery ticket of Malach et al. 2020).

Every parameter of the network stays at the value the round starts from.
Each prunable layer (the layers with a `weight_mask`) gets a learned score
per weight, and the forward pass uses the weights of the `density` fraction
of each layer's unpruned weights with the largest |score|: the subnetwork
is chosen inside the round's pruning mask. The choice is a step function of
the scores; a straight-through estimator passes the gradient of the chosen
weights' mask to the scores unchanged, so a score's gradient is the loss's
gradient with respect to its weight's contribution, w * dL/d(w_eff).

`Subnetwork` wraps the network for one fit: the TaskModule trains it like
any network (its only trainable parameters are the scores, so they alone
are in the optimizer and in a round's checkpoint next to the frozen weights).
At the fit's end `fold` writes the chosen subnetwork into the network by
zeroing the weights it leaves out, so the round's weights.pt is the
subnetwork: rebuilt by `checkpoints.load_network` like any round, it computes
exactly what the last test pass evaluated, and no score is needed to use it.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from ..lottery.pruning import masks
from ..lottery.pruning.density_schedules import target_count
from .spec import EdgePopup


class ChooseTop(torch.autograd.Function):
    """Ramanujan's GetSubnet: 1 for the `keep` largest entries of `magnitude` where
    `mask` keeps the weight (None: it keeps all), else 0; the gradient passes
    straight through to `magnitude`."""

    @staticmethod
    def forward(ctx, magnitude: torch.Tensor, mask: torch.Tensor | None, keep: int) -> torch.Tensor:
        flat = (magnitude if mask is None else magnitude.masked_fill(mask == 0, float("-inf"))).flatten()
        return top_entries(flat, keep).view_as(magnitude)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad, None, None


def top_entries(flat: torch.Tensor, keep: int) -> torch.Tensor:
    """1 at exactly `keep` of the largest entries of `flat` (ties broken by position), else 0."""
    if flat.device.type != "cpu":
        return torch.zeros_like(flat).scatter_(0, torch.topk(flat, keep, sorted=False).indices, 1.0)
    if keep == 0:
        return torch.zeros_like(flat)
    # On a CPU numpy's selection finds the threshold about ten times faster than torch.topk
    # (a 2048 x 2048 layer: 10 ms against 150 ms, which was half of a step).
    values = flat.detach() if flat.dtype in (torch.float32, torch.float64) else flat.detach().float()
    position = flat.numel() - keep
    threshold = torch.from_numpy(np.partition(values.numpy(), position)[position : position + 1])
    above = values > threshold
    tied = values == threshold
    short = keep - int(above.count_nonzero())  # entries equal to the threshold still to take: usually the one it came from
    chosen = above | (tied & (tied.cumsum(0) <= short)) if short < int(tied.count_nonzero()) else above | tied
    return chosen.to(flat.dtype)


def chosen_count(kept: int, density: float) -> int:
    """Weights the subnetwork takes from a layer whose mask keeps `kept`: floor(kept * density + 0.5),
    the pruners' rounding, and at least one, so that no layer is cut off entirely."""
    return min(kept, max(1, target_count(kept, density))) if kept else 0


class Subnetwork(nn.Module):
    """`net` computing with only the chosen weights of its masked layers, for one fit."""

    def __init__(self, net: nn.Module, density: float, seed: int):
        super().__init__()
        self.net, self.density = net, density
        self.layers = masks.masked_layers(net)
        # Frozen: no gradient is computed for them and the optimizer never sees them.
        for parameter in net.parameters():
            parameter.requires_grad_(False)
        generator = torch.Generator().manual_seed(seed)
        self.scores = nn.ParameterDict({_key(name): nn.Parameter(initial_scores(layer.weight, generator))
                                        for name, layer in self.layers.items()})
        # Masks do not change during a fit, so the counts are read once, not on every forward pass
        # (reading a count from a GPU would wait for it).
        kept = {name: int(getattr(layer, masks.MASK).count_nonzero()) for name, layer in self.layers.items()}
        self.keep = {name: chosen_count(count, density) for name, count in kept.items()}
        self.pruned = {name for name, layer in self.layers.items() if kept[name] < layer.weight.numel()}
        self._cached: tuple | None = None

    def chosen(self) -> dict[str, torch.Tensor]:
        """Each masked layer's chosen weights as a 0/1 tensor of its weight's shape."""
        if torch.is_grad_enabled():
            return self._choose()
        # Evaluation passes see the same scores batch after batch: choose once. An optimizer
        # step or a checkpoint load changes the scores in place, which bumps their version.
        version = tuple((s.data_ptr(), s._version) for s in self.scores.values())
        if self._cached is None or self._cached[0] != version:
            self._cached = (version, self._choose())
        return self._cached[1]

    def _choose(self) -> dict[str, torch.Tensor]:
        return {name: ChooseTop.apply(self.scores[_key(name)].abs(), getattr(layer, masks.MASK) if name in self.pruned else None,
                                      self.keep[name])
                for name, layer in self.layers.items()}

    def forward(self, x):
        chosen = self.chosen()
        return functional_call(self.net, {f"{name}.weight": layer.weight * chosen[name] for name, layer in self.layers.items()}, (x,))

    @torch.no_grad()
    def fold(self) -> float:
        """Zero the weights the subnetwork leaves out, give the network back its trainable
        parameters, and return the fraction of the prunable weights the subnetwork uses."""
        chosen = self.chosen()
        for name, layer in self.layers.items():
            layer.weight.mul_(chosen[name])
        for parameter in self.net.parameters():
            parameter.requires_grad_(True)
        total = sum(layer.weight.numel() for layer in self.layers.values())
        return sum(self.keep.values()) / total if total else 1.0


def initial_scores(weight: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Ramanujan's initialisation, kaiming_uniform_(a=sqrt(5)): U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
    drawn on the CPU from the round's own generator (so no other random stream moves)."""
    fan_in = weight[0].numel() if weight.dim() > 1 else weight.numel()
    bound = 1.0 / math.sqrt(fan_in)
    draws = torch.rand(weight.shape, generator=generator, dtype=torch.float32)
    return ((2 * draws - 1) * bound).to(device=weight.device, dtype=weight.dtype)


def _key(layer_name: str) -> str:
    return layer_name.replace(".", "/")  # a parameter's name cannot hold a dot


def for_fit(net: nn.Module, mode: EdgePopup | None) -> Subnetwork | None:
    """The subnetwork search of a fit under `train.mode=edge_popup`, else None: the fit trains the weights."""
    return Subnetwork(net, mode.density, mode.seed) if mode is not None else None
