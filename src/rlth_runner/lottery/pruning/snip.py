"""SNIP (Lee, Ajanthan & Torr, ICLR 2019, "SNIP: Single-shot Network Pruning
based on Connection Sensitivity"): a weight's connection sensitivity is
|dL/dc| for its mask entry c at c = 1, which is |g ⊙ w|, g the gradient of
the training loss over the scoring batches. The most sensitive weights are
kept. (SNIP normalises by the sum of all scores, which changes no ranking.)"""

from __future__ import annotations

import torch

from .at_init import Scoring


def scores(s: Scoring) -> dict[str, torch.Tensor]:
    grads = s.gradient()
    return {name: (g * layer.weight).abs().detach() for (name, layer), g in zip(s.layers.items(), grads)}
