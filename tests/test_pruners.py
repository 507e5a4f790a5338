"""Every pruner x schedule removes exactly the expected number of weights, per layer."""

import math

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from rlth_runner.config import ConfigError
from rlth_runner.lottery.pruning import masks, pruners
from rlth_runner.models.mlp import MLP

ROUNDS = 6


def make_net(seed=0, **attach):
    torch.manual_seed(seed)
    net = MLP(input_shape=(1, 8, 8), num_classes=10, width=33, hidden_layers=2)
    masks.attach(net, ["Linear", "Conv2d"], **attach)
    return net


def pcfg(**kw):
    base = dict(name="magnitude", scope="layer", schedule="imp", sparsity=0.2, target_rounds=None, layer_rates=None,
                layer_types=["Linear", "Conv2d"], include=None, exclude=None, seed=None)
    return OmegaConf.create({**base, **kw})


def expected_density(schedule, k, rate, n=ROUNDS - 1):
    """Written out independently of schedules.py."""
    if schedule == "imp":
        return (1 - rate) ** k
    if schedule == "level":
        return 1 - rate
    if schedule == "target":
        return (1 - rate) ** (min(k, n) / n)
    if schedule == "one_shot":
        return 1 - rate  # reached at round 1 and held
    raise AssertionError(schedule)


def kept(net):
    return {name: int(m.weight_mask.sum()) for name, m in masks.masked_layers(net).items()}


RATES = {"output": 0.1, "hidden.*": 0.5}


def rate_of(name):
    return 0.1 if name == "output" else 0.5 if name.startswith("hidden.") else 0.3


@pytest.mark.parametrize("name", ["magnitude", "random"])
@pytest.mark.parametrize("schedule", ["imp", "level", "target", "one_shot"])
def test_layerwise_counts_are_exact_per_layer_with_overrides(name, schedule):
    net = make_net()
    cfg = pcfg(name=name, schedule=schedule, sparsity=0.3, layer_rates=RATES)
    sizes = {n: m.weight.numel() for n, m in masks.masked_layers(net).items()}
    before = kept(net)
    for k in range(1, ROUNDS):
        removed = pruners.prune(net, cfg, k, ROUNDS, seed=0)
        now = kept(net)
        for layer, size in sizes.items():
            want = math.floor(size * expected_density(schedule, k, rate_of(layer)) + 0.5)
            assert now[layer] == want, (layer, k)
            assert removed[layer] == before[layer] - want
            w = masks.masked_layers(net)[layer].weight
            assert int((w != 0).sum()) == want, "pruned weights are zeroed"
        before = now


@pytest.mark.parametrize("name", ["magnitude", "random"])
def test_global_scope_keeps_the_exact_total_and_overrides_per_layer(name):
    net = make_net()
    cfg = pcfg(name=name, scope="global", sparsity=0.4, layer_rates={"output": 0.1})
    sizes = {n: m.weight.numel() for n, m in masks.masked_layers(net).items()}
    shared = [n for n in sizes if n != "output"]
    for k in range(1, 4):
        pruners.prune(net, cfg, k, ROUNDS, seed=0)
        now = kept(net)
        assert sum(now[n] for n in shared) == math.floor(sum(sizes[n] for n in shared) * 0.6**k + 0.5)
        assert now["output"] == math.floor(sizes["output"] * 0.9**k + 0.5)
    if name == "magnitude":
        assert len({now[n] / sizes[n] for n in shared}) > 1, "global ranking gives layers different densities"


def test_global_magnitude_keeps_the_largest_weights_of_all_layers():
    net = make_net()
    layers = masks.masked_layers(net)
    before = {n: m.weight.detach().abs().clone() for n, m in layers.items()}
    pruners.prune(net, pcfg(scope="global", sparsity=0.5), 1, ROUNDS, seed=0)
    kept_min = min(float(before[n][m.weight_mask.bool()].min()) for n, m in layers.items())
    pruned_max = max(float(before[n][~m.weight_mask.bool()].max()) for n, m in layers.items())
    assert kept_min >= pruned_max


def test_random_pruning_is_seeded_and_differs_from_magnitude():
    def masks_after(name, seed):
        net = make_net()
        pruners.prune(net, pcfg(name=name, sparsity=0.5), 1, ROUNDS, seed=seed)
        return masks.get(net)

    a, b, c, mag = masks_after("random", 0), masks_after("random", 0), masks_after("random", 1), masks_after("magnitude", 0)
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert not torch.equal(a["input"], c["input"])
    assert not torch.equal(a["input"], mag["input"])


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, 3)
        self.conv2 = nn.Conv2d(10, 7, 3)
        self.output = nn.Linear(7 * 4 * 4, 10)


@pytest.mark.parametrize("schedule", ["imp", "level", "target", "one_shot"])
def test_l1_filter_removes_exact_whole_filters(schedule):
    torch.manual_seed(0)
    net = ConvNet()
    masks.attach(net, ["Conv2d"])
    assert set(masks.masked_layers(net)) == {"conv1", "conv2"}
    cfg = pcfg(name="l1_filter", schedule=schedule, sparsity=0.3, layer_rates={"conv2": 0.5}, layer_types=["Conv2d"])
    l1 = {n: m.weight.detach().abs().flatten(1).sum(1) for n, m in masks.masked_layers(net).items()}
    for k in range(1, ROUNDS):
        pruners.prune(net, cfg, k, ROUNDS, seed=0)
        for name, layer in masks.masked_layers(net).items():
            rows = layer.weight_mask.flatten(1)
            assert torch.all((rows == 0).all(1) | (rows == 1).all(1)), "whole filters only"
            filters = rows.shape[0]
            rate = 0.5 if name == "conv2" else 0.3
            assert int(rows.any(1).sum()) == math.floor(filters * expected_density(schedule, k, rate) + 0.5), (name, k)
            assert torch.count_nonzero(layer.weight[layer.weight_mask == 0]) == 0
        if k == 1:  # the first pruning keeps the filters of largest L1 norm
            for name, layer in masks.masked_layers(net).items():
                alive = layer.weight_mask.flatten(1).any(1)
                assert l1[name][alive].min() >= l1[name][~alive].max()


def test_include_and_exclude_choose_the_prunable_layers():
    net = make_net(include=["hidden.*", "output"], exclude=["hidden.h1"])
    assert set(masks.masked_layers(net)) == {"hidden.h0", "output"}
    with pytest.raises(ConfigError, match=r"^pruner.layer_rates: 'inptu' matches no prunable layer of model mlp; its prunable layers are: input, hidden.h0"):
        pruners.check_layers(net, pcfg(include=["hidden.*"], exclude=["outptu"], layer_rates={"inptu": 0.1}), "mlp", rounds=3)
    with pytest.raises(ConfigError, match=r"^pruner.exclude: 'outptu' matches no"):
        pruners.check_layers(net, pcfg(include=["hidden.*"], exclude=["outptu"]), "mlp", rounds=3)
    with pytest.raises(ConfigError, match=r"^pruner.layer_types=\['Conv2d'\] selects no layer of model mlp"):
        pruners.check_layers(net, pcfg(layer_types=["Conv2d"]), "mlp", rounds=3)
    pruners.check_layers(net, pcfg(layer_types=["Conv2d"]), "mlp", rounds=1)  # plain training prunes nothing


def test_first_matching_rate_pattern_wins():
    cfg = pcfg(sparsity=0.2, layer_rates={"hidden.h1": 0.7, "hidden.*": 0.5})
    assert pruners.layer_rate("hidden.h1", cfg) == (0.7, True)
    assert pruners.layer_rate("hidden.h0", cfg) == (0.5, True)
    assert pruners.layer_rate("input", cfg) == (0.2, False)
