"""The one operation every pruner shares: keep the `keep` best-scoring
surviving units (weights or whole filters) among one or more layers."""

from __future__ import annotations

import torch


@torch.no_grad()
def keep_top(scores: list[torch.Tensor], alive: list[torch.Tensor], keep: int) -> list[torch.Tensor]:
    """Boolean keep-masks shaped like `alive`, with exactly min(keep, alive) True.

    Dead units score -inf, so they rank below every survivor and never come
    back. Several layers ranked together is global pruning.
    """
    flat = torch.cat([torch.where(a.flatten(), s.flatten().float(), float("-inf")) for s, a in zip(scores, alive)])
    keep = min(keep, int(sum(int(a.count_nonzero()) for a in alive)))
    chosen = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
    chosen[torch.topk(flat, keep, sorted=False).indices] = True
    return [part.view_as(a) for part, a in zip(chosen.split([a.numel() for a in alive]), alive)]
