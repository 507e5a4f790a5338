"""SynFlow (Tanaka, Kunin, Yamins & Ganguli, NeurIPS 2020, "Pruning neural
networks without any data by iteratively conserving synaptic flow"): data-free.
Every weight is replaced by its absolute value and every bias (and batch-norm
shift and running mean) by zero, so the network is a product of nonnegative
matrices, ReLUs pass everything, and R = 1ᵀ(∏|W|)1 is its summed output on
an all-ones input. A weight's score is |θ ⊙ dR/dθ|, the synaptic flow through it.

Computed in float64: R is a product over layers and overflows float32 in
deep networks. The pruning is iterative (at_init.steps): each of
`pruner.iterations` steps rescores the surviving weights, because pruning
changes every other weight's flow; that avoids SynFlow's layer collapse.
"""

from __future__ import annotations

import torch

from .at_init import Scoring

ZEROED = ("bias", "running_mean")  # shifts: zero them and the network is linear in its positive weights


def scores(s: Scoring) -> dict[str, torch.Tensor]:
    net = s.net.double()  # a copy (at_init._scoring): changing it changes nothing else
    with torch.no_grad():
        for key, value in net.state_dict().items():
            if value.is_floating_point():
                value.zero_() if key.endswith(ZEROED) else value.abs_()
    r = net(torch.ones((1, *s.input_shape), dtype=torch.float64, device=next(net.parameters()).device)).sum()
    weights = [layer.weight for layer in s.layers.values()]
    grads = torch.autograd.grad(r, weights)
    return {name: (w * g).abs().detach().float() for name, w, g in zip(s.layers, weights, grads)}
