"""models/stacked.py: K networks as one, replicas folded into the batch. Replica i of the
stacked network computes what network i computes alone, masks included, and BatchNorm
keeps each replica's own running statistics (must-show 4 of the `replicas` issue)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from rlth_runner.entry.conf import CONFIG_DIR
from rlth_runner.lottery.pruning import masks
from rlth_runner.models.build import build_model
from rlth_runner.models.stacked import NotStackable, stack, unstack_into

K = 3
SHAPES = {"mlp": (1, 8, 8), "lenet_300_100": (1, 28, 28), "lenet5": (1, 28, 28), "conv2": (3, 32, 32), "resnet20": (3, 32, 32), "vgg16": (3, 32, 32)}


def nets_of(model: str, k: int = K) -> list[nn.Module]:
    """k networks of `model` built as a run builds them, each from its own seed."""
    cfg = OmegaConf.load(Path(CONFIG_DIR) / "model" / f"{model}.yaml")
    shape = SHAPES[model]
    data = SimpleNamespace(name="fake", input_shape=shape, num_classes=10, val=(torch.zeros(2, *shape), None))
    nets = []
    for seed in range(k):
        torch.manual_seed(seed)
        nets.append(build_model(cfg, data))
    return nets


def batch(model: str, b: int = 4, seed: int = 99) -> torch.Tensor:
    return torch.randn(b, *SHAPES[model], generator=torch.Generator().manual_seed(seed))


def folded(xs: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat(xs)


@pytest.mark.parametrize("model", sorted(SHAPES))
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_replica_i_computes_what_network_i_computes(model, mode):
    nets = nets_of(model)
    stacked = stack(nets, model)
    for net in [*nets, stacked]:
        net.train(mode == "train")
    xs = [batch(model, seed=i) for i in range(K)]  # each replica its own batch
    with torch.no_grad():
        want = torch.cat([net(x) for net, x in zip(nets, xs)])
        got = stacked(folded(xs))
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    # The replicas differ from each other, so agreement is not that of one network with itself.
    assert not torch.allclose(want[:4], want[4:8], atol=1e-3)


def test_masks_stack_with_their_weights_and_are_enforced():
    nets = nets_of("lenet5")
    for i, net in enumerate(nets):
        masks.attach(net, ["Linear", "Conv2d"])
        for name, layer in masks.masked_layers(net).items():
            layer.weight_mask.copy_((torch.rand(layer.weight.shape, generator=torch.Generator().manual_seed(i)) > 0.5).float())
        masks.apply(net)
    stacked = stack(nets, "lenet5")
    assert set(masks.masked_layers(stacked)) == set(masks.masked_layers(nets[0]))
    with torch.no_grad():
        for p in stacked.parameters():
            p.add_(1.0)  # what an optimizer step might do to a pruned weight
    masks.MaskApplier(stacked)()
    unstack_into(stacked, nets)
    for i, net in enumerate(nets):
        for layer in masks.masked_layers(net).values():
            assert int(layer.weight[layer.weight_mask == 0].count_nonzero()) == 0
            assert int((layer.weight[layer.weight_mask == 1] == 0).sum()) == 0
    x = [batch("lenet5", seed=i) for i in range(K)]
    with torch.no_grad():
        torch.testing.assert_close(stacked(folded(x)), torch.cat([n(xi) for n, xi in zip(nets, x)]), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("model", ["resnet20", "vgg16"])
def test_batchnorm_keeps_each_replicas_running_statistics(model):
    """After train-mode passes, replica i in eval mode equals a single network loaded with
    replica i's weights and buffers, and the replicas' statistics differ from each other."""
    nets = nets_of(model)
    stacked = stack(nets, model).train()
    with torch.no_grad():
        for step in range(3):
            stacked(folded([batch(model, seed=10 * step + i) * (i + 1) for i in range(K)]))
    fresh = nets_of(model)
    unstack_into(stacked, fresh)
    stacked.eval()
    x = [batch(model, seed=50 + i) for i in range(K)]
    with torch.no_grad():
        got = stacked(folded(x))
        for i, net in enumerate(fresh):
            net.eval()
            torch.testing.assert_close(got[4 * i: 4 * (i + 1)], net(x[i]), rtol=1e-4, atol=1e-5)
    bn = [m for m in stacked.modules() if type(m).__name__ == "StackedBatchNorm"][0]
    assert bn.num_batches_tracked.tolist() == [3] * K
    assert not torch.allclose(bn.running_var[0], bn.running_var[1])
    assert int(fresh[1].state_dict()[next(k for k in fresh[1].state_dict() if k.endswith("num_batches_tracked"))]) == 3


def test_unstack_gives_back_each_networks_own_tensors_exactly():
    nets = nets_of("mlp")
    before = [{k: v.clone() for k, v in n.state_dict().items()} for n in nets]
    fresh = nets_of("mlp", K)
    for net in fresh:
        for p in net.parameters():
            nn.init.zeros_(p)
    unstack_into(stack(nets, "mlp"), fresh)
    for want, net in zip(before, fresh):
        for key, value in net.state_dict().items():
            assert torch.equal(value, want[key]), key


def test_a_layer_with_parameters_that_cannot_stack_is_refused():
    net = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
    with pytest.raises(NotStackable, match=r"^replicas: model=tiny has a LayerNorm layer \(1\)"):
        stack([net, net], "tiny")
