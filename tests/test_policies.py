"""Policies set the pruned network's weights (and, for controls, its mask) for the next round."""

import json

import pytest
import torch
from omegaconf import OmegaConf

from rlth_runner.lottery import policies
from rlth_runner.lottery.pruning import masks
from rlth_runner.lottery.pruning.magnitude import prune_layerwise
from rlth_runner.models.mlp import MLP
from rlth_runner.run.runner import run
from rlth_runner.storage.rundir import RunDir


def build():
    return MLP(input_shape=(64,), num_classes=10, width=40, hidden_layers=2)


def trained_and_pruned(tmp_path, pruner="magnitude", policy="reset"):
    """A net, its run directory with init.pt, 'trained' (every weight moved) and pruned to 60%,
    and the policy."""
    torch.manual_seed(0)
    net = build()
    masks.attach(net, ["Linear"])
    store = RunDir(tmp_path)
    store.save_init(net.state_dict())
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p))
    trained = {k: v.clone() for k, v in net.state_dict().items()}
    prune_layerwise(net, {n: 0.6 for n in masks.masked_layers(net)})
    ctx = policies.PolicyContext(store, seed=0, pruner=OmegaConf.create({"name": pruner}), build_model=build, model_name="mlp")
    return net, store, trained, policies.build(OmegaConf.create({"name": policy}), ctx)


def same_masks(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[n], b[n]) for n in a)


def test_reset_restores_surviving_weights_bit_for_bit(tmp_path):
    net, store, _, policy = trained_and_pruned(tmp_path)
    init = store.load_init()
    new_masks = masks.get(net)
    policy.apply(net, 1)

    assert same_masks(masks.get(net), new_masks), "reset must keep the new masks"
    for name, layer in masks.masked_layers(net).items():
        kept = layer.weight_mask.bool()
        assert torch.equal(layer.weight[kept], init[f"{name}.weight"][kept])
        assert torch.count_nonzero(layer.weight[~kept]) == 0
        assert torch.equal(layer.bias, init[f"{name}.bias"])


def test_finetune_keeps_the_trained_survivors(tmp_path):
    net, _, trained, policy = trained_and_pruned(tmp_path, policy="finetune")
    policy.apply(net, 1)
    for name, layer in masks.masked_layers(net).items():
        kept = layer.weight_mask.bool()
        assert torch.equal(layer.weight[kept], trained[f"{name}.weight"][kept])
        assert torch.count_nonzero(layer.weight[~kept]) == 0


def test_reinit_draws_new_values_under_the_same_mask(tmp_path):
    net, store, trained, policy = trained_and_pruned(tmp_path, policy="reinit")
    init, new_masks = store.load_init(), masks.get(net)
    policy.apply(net, 1)
    assert same_masks(masks.get(net), new_masks)
    first = {k: v.clone() for k, v in net.state_dict().items()}
    for name, layer in masks.masked_layers(net).items():
        kept = layer.weight_mask.bool()
        w = layer.weight[kept]
        assert not torch.equal(w, init[f"{name}.weight"][kept]) and not torch.equal(w, trained[f"{name}.weight"][kept])
        assert torch.count_nonzero(layer.weight[~kept]) == 0
        # the model's own init: same scale as the original draw
        assert w.abs().max() <= init[f"{name}.weight"].abs().max() * 1.0001
    policy.apply(net, 1)  # seeded: the same round draws the same values
    assert all(torch.equal(first[k], v) for k, v in net.state_dict().items())
    policy.apply(net, 2)
    assert not torch.equal(first["input.weight"], net.input.weight)


@pytest.mark.parametrize("pruner", ["magnitude", "l1_filter"])
def test_random_mask_keeps_each_layers_density_and_the_initial_values(tmp_path, pruner):
    net, store, _, policy = trained_and_pruned(tmp_path, pruner=pruner, policy="random_mask")
    if pruner == "l1_filter":  # whole rows, as l1_filter leaves them
        for layer in masks.masked_layers(net).values():
            layer.weight_mask.copy_(layer.weight_mask.clone().fill_(1))
            layer.weight_mask[::3] = 0
    init, pruned = store.load_init(), masks.get(net)
    policy.apply(net, 1)
    for name, layer in masks.masked_layers(net).items():
        new = layer.weight_mask.bool()
        assert int(new.sum()) == int(pruned[name].sum()), name
        assert not torch.equal(new, pruned[name]), "the mask is redrawn"
        assert torch.equal(layer.weight[new], init[f"{name}.weight"][new])
        assert torch.count_nonzero(layer.weight[~new]) == 0
        if pruner == "l1_filter":
            assert int(new.any(1).sum()) == int(pruned[name].any(1).sum()) and torch.all(new.all(1) | ~new.any(1))


def test_rewind_capture_saves_exactly_the_weights_at_step_k(make_cfg, tmp_path):
    """rewind.pt from a run rewinding to step 3 equals the final weights of a 3-step run."""
    a, b = tmp_path / "rewind", tmp_path / "three_steps"
    run(make_cfg("rounds=2", "policy=rewind", "policy.step=3", out=a))
    run(make_cfg("rounds=1", "train.max_steps=3", out=b))
    assert RunDir(a).rewind_step() == 3
    captured = RunDir(a).load_rewind()
    three = RunDir(b).load_weights(0)
    assert captured.keys() == three.keys()
    assert all(torch.equal(captured[k], three[k]) for k in three)
    assert not torch.equal(captured["input.weight"], RunDir(a).load_init()["input.weight"])


def test_rewind_policy_restores_the_captured_weights(tmp_path):
    net, store, _, policy = trained_and_pruned(tmp_path, policy="rewind")
    torch.manual_seed(5)
    captured = {k: torch.randn_like(v) for k, v in build().state_dict().items()}  # stand-in for step-7 weights
    store.save_rewind(7, captured)
    policy.apply(net, 1)
    for name, layer in masks.masked_layers(net).items():
        kept = layer.weight_mask.bool()
        assert torch.equal(layer.weight[kept], captured[f"{name}.weight"][kept])
        assert torch.count_nonzero(layer.weight[~kept]) == 0
        assert torch.equal(layer.bias, captured[f"{name}.bias"])


def test_rewind_run_starts_round_1_from_the_captured_weights(make_cfg, tmp_path):
    out = tmp_path / "run"
    run(make_cfg("rounds=2", "policy=rewind", "policy.step=5", "verify.enabled=true", out=out))
    start = RunDir(out).load_start(1)
    captured = RunDir(out).load_rewind()
    for key, w in start.items():
        if key.endswith(".weight"):
            mask = start[key + "_mask"].bool()
            assert torch.equal(w[mask], captured[key][mask]) and torch.count_nonzero(w[~mask]) == 0
    assert json.loads((out / "summary.json").read_text())["policy"] == "rewind"


def test_unknown_policy_names_the_choices(tmp_path):
    ctx = policies.PolicyContext(RunDir(tmp_path), seed=0, pruner=None, build_model=build, model_name="mlp")
    with pytest.raises(KeyError, match="reset, rewind, finetune, reinit, random_mask, grow"):
        policies.build(OmegaConf.create({"name": "nope"}), ctx)
