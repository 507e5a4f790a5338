"""Layer-wise magnitude pruning removes exactly the scheduled number of weights."""

import math

import pytest
import torch
from torch import nn

from rlth_runner.lottery.pruning import density_schedules as schedules, masks
from rlth_runner.lottery.pruning.magnitude import prune_layerwise
from rlth_runner.models.mlp import MLP


def make_net(seed=0):
    torch.manual_seed(seed)
    net = MLP(input_shape=(1, 8, 8), num_classes=10, width=33, hidden_layers=2)
    masks.attach(net, ["Linear", "Conv2d"])
    return net


def test_masks_cover_linear_weights_only():
    net = make_net()
    assert set(masks.masked_layers(net)) == {"input", "hidden.h0", "hidden.h1", "output"}
    names = {k for k in net.state_dict() if k.endswith(masks.MASK)}
    assert names == {f"{n}.weight_mask" for n in ["input", "hidden.h0", "hidden.h1", "output"]}
    assert not any("bias" in n for n in names)


@pytest.mark.parametrize("sparsity", [0.2, 0.5, 0.95])
def test_imp_removes_exact_counts_each_round(sparsity):
    net = make_net()
    sizes = {name: m.weight.numel() for name, m in masks.masked_layers(net).items()}
    kept = dict(sizes)
    for k in range(1, 6):
        target = schedules.imp(k, sparsity)
        removed = prune_layerwise(net, {n: target for n in sizes})
        for name, size in sizes.items():
            expected_keep = math.floor(size * (1 - sparsity) ** k + 0.5)
            assert removed[name] == kept[name] - expected_keep
            kept[name] = expected_keep
            layer = masks.masked_layers(net)[name]
            assert int(layer.weight_mask.sum()) == expected_keep
            assert int((layer.weight != 0).sum()) == expected_keep
            # within one weight of the exact (1-p)^k
            assert abs(expected_keep - size * (1 - sparsity) ** k) <= 1


def test_prunes_smallest_magnitudes_and_never_revives():
    net = make_net()
    layer = net.hidden.h0
    before = layer.weight.detach().abs().clone()
    prune_layerwise(net, {n: 0.5 for n in masks.masked_layers(net)})
    kept = layer.weight_mask.bool()
    assert before[kept].min() >= before[~kept].max()

    # Make a pruned weight huge: it must stay pruned at the next round.
    first_pruned = (~kept).nonzero()[0]
    with torch.no_grad():
        layer.weight[tuple(first_pruned)] = 1e6
    prune_layerwise(net, {n: 0.25 for n in masks.masked_layers(net)})
    assert layer.weight_mask[tuple(first_pruned)] == 0
    assert layer.weight[tuple(first_pruned)] == 0
    assert not (layer.weight_mask.bool() & ~kept).any()


def test_mask_applier_zeroes_pruned_weights():
    net = make_net()
    prune_layerwise(net, {n: 0.3 for n in masks.masked_layers(net)})
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    masks.MaskApplier(net)()
    for layer in masks.masked_layers(net).values():
        assert torch.all(layer.weight[layer.weight_mask == 0] == 0)
        assert torch.all(layer.weight[layer.weight_mask == 1] != 0)


def test_mask_applier_skips_layers_that_prune_nothing():
    net = make_net()
    layers = masks.masked_layers(net)
    first, *rest = layers
    with torch.no_grad():
        layers[first].weight_mask.view(-1)[::2] = 0
    applier = masks.MaskApplier(net)
    assert [w is layers[first].weight for w in applier.weights] == [True]
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(2.0)
    applier()
    assert int((layers[first].weight == 0).sum()) == int((layers[first].weight_mask == 0).sum()) > 0
    assert all(torch.all(layers[n].weight == 2.0) for n in rest)


def test_density_counts_all_prunable_weights():
    net = make_net()
    prune_layerwise(net, {n: 0.5 for n in masks.masked_layers(net)})
    kept, total = map(sum, zip(*masks.counts(net).values()))
    assert masks.density(net) == kept / total
    assert total == sum(m.weight.numel() for m in net.modules() if isinstance(m, nn.Linear))
