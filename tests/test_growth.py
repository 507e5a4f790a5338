"""Growth units: function-preserving insertion, names, masks, MACs, config checks."""

import copy

import pytest
import torch
from omegaconf import OmegaConf

from rlth_runner.analysis import flops
from rlth_runner.config import ConfigError, validate
from rlth_runner.lottery import growth, policies
from rlth_runner.lottery.pruning import masks, pruners
from rlth_runner.lottery.pruning.magnitude import prune_layerwise
from rlth_runner.models.mlp import MLP
from rlth_runner.models.rlth_resnet import RLTHResNet
from rlth_runner.storage.rundir import RunDir

PRUNER = OmegaConf.create({"layer_types": ["Linear", "Conv2d"], "include": None})


def pruned_mlp(depth, seed=0):
    torch.manual_seed(seed)
    net = MLP(input_shape=(1, 8, 8), num_classes=10, width=24, hidden_layers=depth)
    pruners.attach_masks(net, PRUNER)
    prune_layerwise(net, {n: 0.3 for n in masks.masked_layers(net)})
    return net.eval()


def resnet(blocks, seed=0):
    """A ResNet whose BatchNorms have non-trivial affine parameters and running statistics."""
    torch.manual_seed(seed)
    net = RLTHResNet(input_shape=(3, 8, 8), num_classes=10, width=8, hidden_layers=blocks)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(16, 3, 8, 8))
    return net.eval()


@pytest.mark.parametrize("depth", [0, 1, 3])
@pytest.mark.parametrize("where", ["first", "last", 1, 7])
def test_mlp_identity_insertion_preserves_the_function(depth, where):
    net = pruned_mlp(depth)
    x = torch.randn(50, 1, 8, 8)
    before_out = net(x)
    before_masks = masks.get(net)
    name = growth.insert(net, where, "identity")

    assert growth.depth(net) == depth + 1
    order = growth.architecture(net)
    assert order.index(name.split(".")[1]) == growth.position(where, depth)
    assert name == f"hidden.h{depth}", "a new layer takes the next unused index, not its position"
    torch.testing.assert_close(net(x), before_out, atol=1e-6, rtol=0)
    after = masks.get(net)
    assert all(torch.equal(after[n], m) for n, m in before_masks.items()), "existing masks stay on their layers"


def test_repeated_mlp_insertions_keep_preserving():
    net = pruned_mlp(2)
    x = torch.randn(50, 1, 8, 8)
    ref = net(x)
    for where in ["first", 1, "last", 2]:
        growth.insert(net, where, "identity")
        pruners.attach_masks(net, PRUNER)
        torch.testing.assert_close(net(x), ref, atol=1e-6, rtol=0)
    assert growth.architecture(net) == ["h2", "h3", "h5", "h0", "h1", "h4"]
    assert set(masks.masked_layers(net)) == {"input", "output", *(f"hidden.h{i}" for i in range(6))}


def test_random_insertion_changes_the_function():
    # The control: the preservation tests above can fail.
    net = pruned_mlp(1)
    x = torch.randn(50, 1, 8, 8)
    before = net(x)
    growth.insert(net, "last", "random")
    assert (net(x) - before).abs().max() > 1e-3


@pytest.mark.parametrize("blocks", [0, 2])
@pytest.mark.parametrize("where", ["first", "last", 1])
def test_zero_residual_block_preserves_the_resnet_exactly(blocks, where):
    net = resnet(blocks)
    original = copy.deepcopy(net)
    x = torch.randn(20, 3, 8, 8)
    growth.insert(net, where, "zero_residual")
    assert growth.depth(net) == blocks + 1
    torch.testing.assert_close(net(x), original(x), atol=1e-6, rtol=0)
    net.train(), original.train()  # batch statistics: the new branch is still exactly zero
    torch.testing.assert_close(net(x), original(x), atol=1e-6, rtol=0)


def test_identity_block_has_dirac_kernels_but_changes_the_function():
    net = resnet(1)
    x = torch.randn(20, 3, 8, 8)
    before = net(x)
    name = growth.insert(net, "last", "identity")
    block = net.blocks[name.split(".")[1]]
    feature = torch.rand(4, 8, 8, 8)
    torch.testing.assert_close(block.conv1(feature), feature)
    torch.testing.assert_close(block.conv2(feature), feature)
    # With fresh BatchNorm statistics the branch repeats its input: relu(x + x/(1+eps)).
    torch.testing.assert_close(block(feature), feature * (1 + 1 / (1 + 1e-5)), atol=1e-5, rtol=1e-5)
    assert (net(x) - before).abs().max() > 1e-3


def test_new_layer_names_are_fresh_and_masks_follow_include():
    net = resnet(0)
    pruner = OmegaConf.create({"layer_types": ["Linear", "Conv2d"], "include": ["blocks.*"]})
    assert pruners.attach_masks(net, pruner) == {}
    growth.insert(net, "last", "zero_residual")
    growth.insert(net, "first", "zero_residual")
    pruners.attach_masks(net, pruner)
    assert growth.architecture(net) == ["b1", "b0"]
    assert set(masks.masked_layers(net)) == {f"blocks.b{i}.conv{j}" for i in (0, 1) for j in (1, 2)}


def test_grow_policy_keeps_the_trained_survivors(tmp_path):
    net = pruned_mlp(1)
    with torch.no_grad():  # stand-in for training: every weight moves
        for p in net.parameters():
            p.add_(1.0)
    prune_layerwise(net, {n: 0.5 for n in masks.masked_layers(net)})
    trained = {k: v.clone() for k, v in net.state_dict().items()}
    assert grow_policy(tmp_path).apply(net, 1) == "inserted hidden.h1"
    after = net.state_dict()
    assert all(torch.equal(after[k], v) for k, v in trained.items())


def test_set_architecture_rebuilds_the_order():
    net = MLP(input_shape=(4,), num_classes=2, width=6, hidden_layers=1)
    h0 = net.hidden.h0
    growth.set_architecture(net, ["h3", "h0", "h1"])
    assert growth.architecture(net) == ["h3", "h0", "h1"] and net.hidden.h0 is h0


def grow_policy(tmp_path, name="grow", **policy):
    cfg = OmegaConf.create({"name": name, "where": "last", "every": 1, "max_depth": None, "init": "identity", **policy})
    ctx = policies.PolicyContext(RunDir(tmp_path), seed=0, pruner=PRUNER, build_model=None, model_name="mlp")
    return policies.build(cfg, ctx)


def test_grow_follows_every_and_max_depth(tmp_path):
    net = pruned_mlp(0)
    policy = grow_policy(tmp_path, every=2, max_depth=2)
    depths = []
    for k in range(1, 8):
        policy.apply(net, k)
        pruners.attach_masks(net, PRUNER)  # as the runner does after every policy
        depths.append(growth.depth(net))
    assert depths == [0, 1, 1, 2, 2, 2, 2]
    assert "hidden.h1" in masks.masked_layers(net)
    assert grow_policy(tmp_path, name="finetune").apply(net, 1) is None and growth.depth(net) == 2


def test_final_form_has_every_layer_growth_will_insert(tmp_path):
    net = pruned_mlp(0)
    final = grow_policy(tmp_path, every=2).final_form(net, 7)
    assert growth.architecture(final) == ["h0", "h1", "h2"] and growth.depth(net) == 0
    assert grow_policy(tmp_path, name="reset").final_form(net, 7) is net


def test_random_growth_is_seeded_by_round(tmp_path):
    a, b = pruned_mlp(0), pruned_mlp(0)
    torch.randn(100)  # different global RNG state
    grow_policy(tmp_path, init="random").apply(a, 3)
    grow_policy(tmp_path, init="random").apply(b, 3)
    assert torch.equal(a.hidden.h0.weight, b.hidden.h0.weight)


def test_macs_count_unpruned_weights():
    net = MLP(input_shape=(1, 8, 8), num_classes=10, width=24, hidden_layers=2)
    pruners.attach_masks(net, PRUNER)
    assert flops.macs_per_example(net, (1, 8, 8)) == 64 * 24 + 2 * 24 * 24 + 24 * 10
    prune_layerwise(net, {n: 0.5 for n in masks.masked_layers(net)})
    assert flops.macs_per_example(net, (1, 8, 8)) == sum(kept for kept, _ in masks.counts(net).values())

    res = RLTHResNet(input_shape=(3, 16, 12), num_classes=10, width=8, hidden_layers=2)
    pruner = OmegaConf.create({"layer_types": ["Linear", "Conv2d"], "include": ["blocks.*"]})
    pruners.attach_masks(res, pruner)
    positions = 16 * 12  # stride 1, "same" padding everywhere
    dense = 3 * 8 * 49 * positions + 2 * 2 * 8 * 8 * 9 * positions + 8 * 10
    assert flops.macs_per_example(res, (3, 16, 12)) == dense
    prune_layerwise(res, {n: 0.2 for n in masks.masked_layers(res)})
    kept_conv = sum(kept for kept, _ in masks.counts(res).values())
    assert flops.macs_per_example(res, (3, 16, 12)) == 3 * 8 * 49 * positions + kept_conv * positions + 8 * 10


@pytest.mark.parametrize(
    "overrides, needle",
    [
        (["policy.where=middle"], "policy.where='middle' must be last, first or a hidden-layer index >= 0"),
        (["policy.where=-1"], "policy.where=-1 must be last"),
        (["policy.every=0"], "policy.every=0 must be an integer >= 1"),
        (["policy.max_depth=-2"], "policy.max_depth=-2 must be an integer >= 0 or null"),
        (["policy.init=7"], "policy.init=7 must be the name of a new layer's initialisation"),
        (["pruner.include=blocks.*"], "pruner.include='blocks.*' must be a list"),
    ],
)
def test_bad_grow_values_name_the_key(make_cfg, overrides, needle):
    cfg = make_cfg("policy=grow", *overrides)
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    assert str(err.value).startswith(needle) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "overrides, needle",
    [
        (["policy.init=zero_residual"], "policy.init='zero_residual' is not one of: identity, random (for model=mlp)"),
        (["policy.init=orthogonal", "model=rlth_resnet", "model.width=8"], "policy.init='orthogonal' is not one of: identity, zero_residual, random"),
        (["model=lenet_300_100"], "policy=grow needs a growable model"),
    ],
)
def test_model_dependent_grow_errors_come_before_any_file(tmp_path, overrides, needle):
    from hydra import compose, initialize_config_dir

    from rlth_runner.entry.conf import CONFIG_DIR
    from rlth_runner.run.runner import run

    out = tmp_path / "run"
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=["policy=grow", *overrides, f"paths.output_dir={out}"])
    validate(cfg)  # the config alone cannot tell
    with pytest.raises(ConfigError) as err:
        run(cfg)
    assert str(err.value).startswith(needle) and "\n" not in str(err.value)
    assert not (out / "init.pt").exists() and not (out / "summary.json").exists()


def test_good_grow_values_pass(make_cfg):
    validate(make_cfg("policy=grow", "policy.where=2", "policy.max_depth=4", "model.hidden_layers=0"))
    validate(make_cfg("policy=grow", "model=rlth_resnet", "policy.init=zero_residual", "pruner.include=[blocks.*]"))
