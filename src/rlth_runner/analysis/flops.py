"""An estimate of the pruned network's inference cost.

Counts multiply-accumulates (MACs) per example for the weights that are not
pruned: a Linear layer costs one MAC per unpruned weight, a convolution one
MAC per unpruned kernel weight per output position. Biases, normalisation,
activations and pooling are left out; they are small next to the weights and
are not pruned. Layers without a mask count all their weights. The number is
the round record's `macs` (once called `flops`, the pruning literature's loose
name for it; floating-point operations are about twice as many, a multiply
and an add each).
"""

from __future__ import annotations

import torch
from torch import nn

from ..lottery.pruning import masks


def _kept(layer: nn.Module) -> int:
    mask = getattr(layer, masks.MASK, None)
    return int(mask.count_nonzero()) if mask is not None else layer.weight.numel()


@torch.no_grad()
def macs_per_example(net: nn.Module, input_shape) -> int:
    """MACs of one forward pass of one example through the unpruned weights."""
    positions: dict[nn.Module, int] = {}

    def record(module, _inputs, output):
        positions[module] = output[0, 0].numel()  # output positions of one channel

    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    handles = [m.register_forward_hook(record) for m in convs]
    was_training = net.training
    ref = next(net.parameters())
    try:
        net.eval()
        net(torch.zeros(1, *input_shape, device=ref.device, dtype=ref.dtype))
    finally:
        net.train(was_training)
        for h in handles:
            h.remove()

    total = 0
    for module in net.modules():
        if isinstance(module, nn.Linear):
            total += _kept(module)
        elif isinstance(module, nn.Conv2d):
            total += _kept(module) * positions.get(module, 0)
    return total
