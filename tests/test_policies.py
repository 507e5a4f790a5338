"""Policies set the pruned network's weights for the next round."""

import torch

from rlth_runner import policies
from rlth_runner.models.mlp import MLP
from rlth_runner.pruning import masks
from rlth_runner.pruning.magnitude import prune_layerwise
from rlth_runner.store import RunStore


def test_reset_restores_surviving_weights_bit_for_bit(tmp_path):
    torch.manual_seed(0)
    net = MLP(input_shape=(64,), num_classes=10, width=40, hidden_layers=2)
    masks.attach(net, ["Linear"])
    store = RunStore(tmp_path)
    store.save_init(net.state_dict())
    init = {k: v.clone() for k, v in net.state_dict().items()}

    with torch.no_grad():  # stand-in for training: every weight moves
        for p in net.parameters():
            p.add_(torch.randn_like(p))
    prune_layerwise(net, {n: 0.6 for n in masks.masked_layers(net)})
    new_masks = masks.get(net)
    policies.get("reset")(net, store)

    assert all(torch.equal(m, new_masks[n]) for n, m in masks.get(net).items()), "reset must keep the new masks"
    for name, layer in masks.masked_layers(net).items():
        kept = layer.weight_mask.bool()
        assert torch.equal(layer.weight[kept], init[f"{name}.weight"][kept])
        assert torch.count_nonzero(layer.weight[~kept]) == 0
        assert torch.equal(layer.bias, init[f"{name}.bias"])


def test_unknown_policy_names_the_choices():
    try:
        policies.get("nope")
    except KeyError as err:
        assert "reset" in str(err)
    else:
        raise AssertionError("expected KeyError")
