"""GraSP (Wang, Zhang & Grosse, ICLR 2020, "Picking Winning Tickets Before
Training by Preserving Gradient Flow"), Eq. 8: removing weight θ changes the
gradient norm gᵀg by about 2·S(−θ), with S(−θ) = −θ ⊙ Hg, H the Hessian and
g the gradient of the training loss. GraSP removes the weights of the
HIGHEST S(−θ) (Algorithm 1: those whose removal least reduces, or most
increases, gradient flow), so the keep score here, higher kept, is
−S(−θ) = θ ⊙ Hg, signed as in the paper (not its absolute value).

Hg is a Hessian-vector product by double backpropagation: with g fixed
(detached), Hg = d(gradᵀ g)/dθ, the gradient taken with create_graph.
Wang et al.'s code divides the logits by a temperature of 200 for
numerical range; none is applied here, so the score is the paper's Eq. 8.
"""

from __future__ import annotations

import torch

from .at_init import Scoring


def hessian_gradient(s: Scoring) -> list[torch.Tensor]:
    """H g for the mean loss over the scoring batches, per layer."""
    g = [t.detach() for t in s.gradient()]
    grads = s.gradient(create_graph=True)
    weights = [layer.weight for layer in s.layers.values()]
    return list(torch.autograd.grad(sum((a * b).sum() for a, b in zip(grads, g)), weights))


def scores(s: Scoring) -> dict[str, torch.Tensor]:
    hg = hessian_gradient(s)
    return {name: (layer.weight * h).detach() for (name, layer), h in zip(s.layers.items(), hg)}
