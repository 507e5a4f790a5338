"""The sanity-check branches of Frankle et al. 2021 ("Pruning neural networks at
initialization: why are we missing the mark?") and Su et al. 2020: does the
method's choice of weights within each layer matter, or only the layer's count?

    shuffle_layerwise  the parent's round-k mask of each layer, permuted within
                       the layer (whole filters for a structured pruner)
    invert             per layer, the parent's round-k count of the LOWEST-scoring
                       weights under the scores the parent's pruner ranked by

Both train from the parent's starting values with its batch order, as
random_prune does, and each round's mask depends only on the parent's files
and the branch seed, so a resumed branch draws the same masks.

Which scores invert ranks, and among which weights:
  - IMP (a schedule pruning between rounds): round k's mask kept the largest
    |w| of the weights round k-1 ended with, among the weights round k-1 still
    had. The inverted mask takes the smallest among those same weights, so it
    lies inside the parent's round k-1 mask: only round k's own choice is
    inverted, not the rounds before it (inverting those too would revive weights
    pruned rounds ago, whose trained values were never recorded). Round 0 is dense.
  - pruning at initialisation (`pruner.at_init`): the scores at initialisation,
    recomputed from the parent's saved initial weights on the same seeded
    training batches (lottery/pruning/at_init.py), among all weights. SynFlow
    prunes iteratively, each iteration rescoring the survivors; the inversion
    ranks its first iteration's scores (the dense network's), since the later
    ones exist only along the parent's own path.
  - `schedule: gradual`: round k's last pruning step ranked the weights of its
    end step, which are not saved; the weights round k ended with stand in for
    them, among round k-1's mask. The weights the round pruned are zero there,
    so they are the lowest-scoring, as the schedule judged them.
Each layer keeps the parent's count, also under `scope: global`: the inversion
then asks only which weights inside a layer, the question shuffle_layerwise asks
too, and a global bottom-n would hand almost every weight to the layer with the
smallest magnitudes. Ties are broken in a random order drawn from the branch seed.
A pruner without scores (random) has nothing to invert: `settle` refuses it.
"""

from __future__ import annotations

import torch

from ... import seeds
from ...config import choices
from ..policies.base import load_weights
from ..pruning import at_init, masks, pruners
from .kinds import Kind, load_masks


def _units(t: torch.Tensor, structured: bool, reduce) -> torch.Tensor:
    """A layer's tensor per unit: per weight, or per output filter (`reduce` over the rest)."""
    return reduce(t.flatten(1), dim=1) if structured else t.flatten()


def _expand(units: torch.Tensor, like: torch.Tensor, structured: bool) -> torch.Tensor:
    return units.view(-1, *[1] * (like.dim() - 1)).expand_as(like).clone() if structured else units.view_as(like)


class ShuffleLayerwise(Kind):
    def set_masks(self, net, k: int) -> None:
        structured = choices.PRUNERS[self.pruner.name].structured
        g = torch.Generator().manual_seed(seeds.derive(self.branch_seed, "shuffle_layerwise", k))
        chosen = {}
        for name, mask in self.parent.load_masks(k).items():  # layers in model order: the same draws each time
            units = _units(mask.bool(), structured, torch.amax) if structured else mask.bool().flatten()
            chosen[name] = _expand(units[torch.randperm(units.numel(), generator=g)], mask.bool(), structured)
        load_masks(net, chosen)


def keep_lowest(scores: torch.Tensor, alive: torch.Tensor, n: int, generator) -> torch.Tensor:
    """A boolean mask like `alive` keeping the n lowest `scores` among `alive`;
    ties in the order of a random permutation from `generator`."""
    if n > int(alive.sum()):
        raise ValueError(f"cannot keep {n} of {int(alive.sum())} surviving units")
    flat = torch.where(alive.flatten(), scores.flatten().double(), float("inf"))
    order = torch.randperm(flat.numel(), generator=generator)
    ranked = order[torch.argsort(flat[order], stable=True)]
    keep = torch.zeros(flat.numel(), dtype=torch.bool)
    keep[ranked[:n]] = True
    return keep.view_as(alive)


class Invert(Kind):
    def set_masks(self, net, k: int) -> None:
        structured = choices.PRUNERS[self.pruner.name].structured
        scores, alive = self.scores(k)
        g = torch.Generator().manual_seed(seeds.derive(self.branch_seed, "invert", k))
        chosen = {}
        for name, mask in self.parent.load_masks(k).items():
            m = mask.bool()
            if structured:  # a filter's score is its weights' L1 norm (l1_filter)
                kept = keep_lowest(_units(scores[name], True, torch.sum), _units(alive[name], True, torch.amax),
                                   int(_units(m, True, torch.amax).sum()), g)
            else:
                kept = keep_lowest(scores[name], alive[name], int(m.sum()), g)
            chosen[name] = _expand(kept.flatten(), m, structured)
        load_masks(net, chosen)

    def scores(self, k: int) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """({layer: the parent's scores for round k's mask}, {layer: the weights they ranked})."""
        names = list(self.parent.load_masks(k))
        if self.pruner.get("at_init"):
            found = self.scores_at_init(names)
            return found, {n: torch.ones_like(s, dtype=torch.bool) for n, s in found.items()}
        if self.pruner.schedule == "gradual":
            weights = self.parent.load_weights(k)
        elif k == 0:
            weights = self.parent.load_weights(0)  # round 0 prunes nothing: every weight is kept
        else:
            weights = self.parent.load_weights(k - 1)
        before = self.parent.load_masks(k - 1) if k > 0 else {n: torch.ones_like(weights[f"{n}.weight"], dtype=torch.bool) for n in names}
        return {n: weights[f"{n}.weight"].abs() for n in names}, {n: before[n].bool() for n in names}

    def scores_at_init(self, names: list[str]) -> dict[str, torch.Tensor]:
        net = self.build_model()
        pruners.attach_masks(net, self.pruner)
        if self.data is not None:
            net = net.to(self.data.train[0].device)
        load_weights(net, self.parent.load_init())
        layers = masks.masked_layers(net)
        if not choices.PRUNERS[self.pruner.name].network:
            return {n: layers[n].weight.detach().abs() for n in names}
        if self.data is None:
            raise ValueError("invert off a network pruner needs the training data to rescore")
        batches = at_init.scoring_batches(self.data.train, self.pruner.batches, self.batch_size, self.seed)
        scoring = at_init._scoring(net, batches, at_init.loss_for(self.data.task), tuple(self.data.input_shape))
        found = choices.resolve(choices.PRUNERS, self.pruner.name, "pruner")(scoring)
        return {n: found[n].detach().cpu() for n in names}
