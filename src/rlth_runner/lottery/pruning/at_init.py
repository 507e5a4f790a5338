"""Pruning at initialisation (`pruner.at_init`): before round 0 trains, each
layer goes straight to its target density 1 - `sparsity` (or 1 - its
`layer_rates` entry), layer by layer or globally, with the exact counts of
every other pruner (the same ranking, `pruners.prune_to`).

A per-weight pruner (magnitude, random) ranks the initial weights once.
A network pruner (`PrunerChoice.network`: snip, grasp, synflow) scores the
whole network: its `scores(scoring)` gets a `Scoring` holding a copy of the
network, so scoring can neither train the network nor move its batch-norm
statistics, and a fixed, seeded set of batches of the training split (never
validation or test data). SynFlow prunes over `pruner.iterations` steps, the
density after step i being target^(i/n) (Tanaka et al. 2020), the others in one.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ... import seeds
from ...config import choices
from . import masks, pruners


@dataclass
class Scoring:
    """What a network pruner's `scores` sees."""

    net: nn.Module  # a copy of the network in eval mode, pruned weights zeroed; safe to change
    layers: dict[str, nn.Module]  # the copy's masked layers, by name: what to score
    batches: list[tuple[torch.Tensor, torch.Tensor]]  # training batches, fixed by the run's seed
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # the task's training loss (mean over the batch)
    input_shape: tuple[int, ...]

    def gradient(self, create_graph: bool = False) -> list[torch.Tensor]:
        """d(mean over the batches of the batch loss)/d(weight), per layer."""
        weights = [layer.weight for layer in self.layers.values()]
        total = [torch.zeros_like(w) for w in weights]
        for x, y in self.batches:
            grads = torch.autograd.grad(self.loss(self.net(x), y), weights, create_graph=create_graph)
            total = [t + g / len(self.batches) for t, g in zip(total, grads)]
        return total


def scoring_batches(train: tuple[torch.Tensor, torch.Tensor], count: int, batch_size: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """`count` batches of `batch_size` distinct training examples (fewer if the split is
    smaller), drawn from the `prune_batches` stream: the same for every rank and resume."""
    x, y = train
    g = torch.Generator().manual_seed(seeds.derive(seed, "prune_batches"))
    chosen = torch.randperm(len(x), generator=g)[: count * batch_size].to(x.device)
    return [(x[part], y[part]) for part in chosen.split(batch_size)]


def loss_for(task: str) -> Callable:
    """The loss training minimises (training/tasks.py): cross-entropy, or mean squared error."""
    return F.cross_entropy if task == "classification" else F.mse_loss


def steps(net: nn.Module, pcfg, data, batch_size: int, seed: int, pruner_seed: int) -> Iterator[dict[str, int]]:
    """Prune `net` at initialisation, in place, one step at a time (several for
    synflow); yields the weights each step removed per layer."""
    targets = {name: 1.0 - pruners.layer_rate(name, pcfg)[0] for name in masks.masked_layers(net)}
    generator = torch.Generator().manual_seed(seeds.derive(pruner_seed, "prune", 0))
    choice = choices.PRUNERS[pcfg.name]
    if not choice.network:
        yield pruners.prune_to(net, pcfg, targets, generator)
        return
    network_scores = choices.resolve(choices.PRUNERS, pcfg.name, "pruner")
    batches = scoring_batches(data.train, pcfg.batches, batch_size, seed)
    n = pcfg.iterations if pcfg.name == "synflow" else 1
    for i in range(1, n + 1):
        scoring = _scoring(net, batches, loss_for(data.task), tuple(data.input_shape))
        found = network_scores(scoring)
        by_layer = {id(layer): found[name].detach() for name, layer in masks.masked_layers(net).items()}
        # Scores are ranked among the surviving weights: a pruned weight never comes back.
        yield pruners.prune_to(net, pcfg, {name: d ** (i / n) for name, d in targets.items()}, generator,
                               lambda layer, _generator: by_layer[id(layer)].to(layer.weight.device))


def prune_at_init(net: nn.Module, pcfg, data, batch_size: int, seed: int, pruner_seed: int) -> dict[str, int]:
    """Before round 0: prune `net` to its target densities if `pruner.at_init`; the weights removed per layer."""
    removed = {name: 0 for name in masks.masked_layers(net)}
    if pcfg.get("at_init"):
        for step in steps(net, pcfg, data, batch_size, seed, pruner_seed):
            removed = {name: removed[name] + step[name] for name in removed}
    return removed


def _scoring(net: nn.Module, batches, loss, input_shape) -> Scoring:
    """A copy of `net` to score: eval mode (no dropout draw, no batch-norm update; as in
    Tanaka et al.'s reference code, which scores every pruner with model.eval()),
    pruned weights zeroed, every scored weight differentiable."""
    scored = copy.deepcopy(net).eval()
    masks.apply(scored)
    layers = masks.masked_layers(scored)
    for layer in layers.values():
        layer.weight.requires_grad_(True)
    return Scoring(scored, layers, batches, loss, input_shape)
