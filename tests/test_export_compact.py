"""Compaction (export/compact.py) is exact, and removes exactly the dead units.

"Equal" throughout means within float32 rounding: the compacted network sums
the same products in another order (zeros skipped, constants folded into
biases), so each output may differ by at most 2 gamma_N times the output of
the network in absolute values, N the fan-ins along the chain (Higham's bound
for float sums, export/bounds.py). `test_the_bound_catches_a_real_change`
shows the bound is tight enough to notice a 1e-4 change of one weight.
"""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from rlth_runner.lottery import growth
from rlth_runner.export import bounds, compact, csr, forward, specnet
from rlth_runner.models.conv import ConvNet
from rlth_runner.models.mlp import MLP
from rlth_runner.models.resnet import CifarResNet
from rlth_runner.models.vgg import VGG
from rlth_runner.lottery.pruning import masks, pruners


def pcfg(**kw):
    base = dict(name="magnitude", scope="layer", schedule="imp", sparsity=0.5, target_rounds=None, layer_rates=None,
                layer_types=["Linear", "Conv2d"], include=None, exclude=None, seed=None)
    return OmegaConf.create({**base, **kw})


def compacted(net: nn.Module, input_shape):
    net.eval()
    ops, state = forward.chain_of(net), net.state_dict()
    done = compact.compact(ops, state, input_shape)
    return ops, state, done, specnet.from_state(done.ops, done.state)


def assert_equal_outputs(net, small, ops, state, input_shape, n=128):
    x = torch.randn(n, *input_shape, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        diff = (small(x) - net(x)).abs()
    bound = bounds.rounding_bound(ops, state, x)
    assert bool((diff <= bound).all()), f"max |diff| {diff.max():.3g}, bound {bound.min():.3g}"


def live_units(weights: list[torch.Tensor]) -> list[torch.Tensor]:
    """Independently of compact.py, for a chain of linear layers: a unit is live when a path of
    nonzero weights joins it to the input and another joins it to the output. Index 0: input features."""
    nonzero = [w != 0 for w in weights]
    from_input = [torch.ones(nonzero[0].shape[1], dtype=torch.bool)]
    for w in nonzero:
        from_input.append((w & from_input[-1]).any(1))
    to_output = [torch.ones(nonzero[-1].shape[0], dtype=torch.bool)]
    for w in reversed(nonzero):
        to_output.insert(0, (w & to_output[0].unsqueeze(1)).any(0))
    live = [a & b for a, b in zip(from_input, to_output)]
    live[-1][:] = True  # the classes
    return live


def hand_made_mlp() -> MLP:
    """16 inputs -> 8 -> 8 -> 8 -> 10, every weight nonzero but where the masks cut these units out:
    input units 0 and 1 have no incoming weight (biases 0.5 and -1: outputs relu(b) = 0.5 and 0),
    hidden.h1 never reads hidden.h0 unit 3, which alone reads input unit 5, the output never reads
    hidden.h1 unit 4, and no weight reads input feature 7."""
    torch.manual_seed(0)
    net = MLP((1, 4, 4), 10, width=8, hidden_layers=2)
    masks.attach(net, ["Linear"])
    with torch.no_grad():
        for layer in masks.masked_layers(net).values():
            layer.weight.copy_(torch.randn_like(layer.weight).sign() * (0.1 + torch.rand_like(layer.weight)))
        net.input.weight_mask[[0, 1], :] = 0
        net.input.weight_mask[:, 7] = 0
        net.input.bias[:2] = torch.tensor([0.5, -1.0])
        net.hidden.h0.weight_mask[:, 5] = 0
        net.hidden.h0.weight_mask[3, 5] = 1
        net.hidden.h1.weight_mask[:, 3] = 0
        net.output.weight_mask[:, 4] = 0
    masks.apply(net)
    return net.eval()


def test_a_hand_made_mlp_loses_exactly_its_dead_units_and_keeps_its_function():
    net = hand_made_mlp()
    ops, state, done, small = compacted(net, (1, 4, 4))
    assert done.units == {"input": [5, 8], "hidden.h0": [7, 8], "hidden.h1": [7, 8], "output": [10, 10]}
    assert done.inputs == [15, 16] and done.folded == 2
    assert_equal_outputs(net, small, ops, state, (1, 4, 4))
    # What is left is dense: its parameters are the live weights (every one nonzero) plus the live biases.
    live = {"input": ([2, 3, 4, 6, 7], [i for i in range(16) if i != 7]), "hidden.h0": ([0, 1, 2, 4, 5, 6, 7], [2, 3, 4, 6, 7]),
            "hidden.h1": ([0, 1, 2, 3, 5, 6, 7], [0, 1, 2, 4, 5, 6, 7]), "output": (list(range(10)), [0, 1, 2, 3, 5, 6, 7])}
    layers = dict(net.named_modules())
    live_weights = sum(int(layers[name].weight[rows][:, cols].count_nonzero()) for name, (rows, cols) in live.items())
    live_biases = sum(len(rows) for rows, _ in live.values())
    assert live_weights == sum(len(r) * len(c) for r, c in live.values())  # no zero inside the live blocks
    assert done.params == live_weights + live_biases == sum(p.numel() for p in small.parameters())


def test_a_unit_with_no_inputs_is_folded_into_the_next_bias():
    net = hand_made_mlp()
    _, _, done, _ = compacted(net, (1, 4, 4))
    w, b = net.hidden.h0.weight.detach(), net.hidden.h0.bias.detach()
    expected = (b + 0.5 * w[:, 0])[[0, 1, 2, 4, 5, 6, 7]]  # input unit 0 outputs relu(0.5); unit 1 relu(-1) = 0
    assert torch.allclose(done.state["hidden.h0.bias"], expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("rounds", [4, 8])
def test_a_really_pruned_mlp_with_a_grown_identity_layer(rounds):
    torch.manual_seed(1)
    net = MLP((1, 8, 8), 10, width=48, hidden_layers=1)
    masks.attach(net, ["Linear"])
    cfg = pcfg(sparsity=0.5, layer_rates={"output": 0.2})
    for k in range(1, rounds):
        pruners.prune(net, cfg, k, rounds, seed=0)
        if k == 2:
            grown = growth.insert(net, "last", "identity")  # kept as a layer, compacted like any other
            masks.attach(net, ["Linear"])
    ops, state, done, small = compacted(net, (1, 8, 8))
    assert grown.removeprefix("hidden.") in net.hidden and grown in done.units
    assert_equal_outputs(net, small, ops, state, (1, 8, 8))
    weights = [getattr(m, "weight").detach() for m in masks.masked_layers(net).values()]
    live = live_units(weights)
    expected = [int(l.sum()) for l in live[1:]]
    assert [kept for kept, _ in done.units.values()] == expected
    assert (done.inputs or [64])[0] == int(live[0].sum())
    # Dense blocks between live units: every weight position between two live units, plus a bias per live unit.
    positions = sum(int(a.sum()) * int(b.sum()) for a, b in zip(live[:-1], live[1:]))
    assert done.params == positions + sum(expected)
    # No nonzero weight between live units is lost.
    between = sum(int(w[b][:, a].count_nonzero()) for w, a, b in zip(weights, live[:-1], live[1:]))
    assert sum(int(p.count_nonzero()) for name, p in small.named_parameters() if name.endswith("weight")) == between


def test_a_conv_net_with_pruned_filters():
    torch.manual_seed(2)
    net = ConvNet((3, 16, 16), 10, convs=(12, 12), fcs=(16, 16))
    masks.attach(net, ["Conv2d"])
    cfg = pcfg(name="l1_filter", layer_types=["Conv2d"])
    for k in range(1, 3):
        pruners.prune(net, cfg, k, 3, seed=0)  # 12 -> 6 -> 3 filters per convolution
    ops, state, done, small = compacted(net.eval(), (3, 16, 16))
    assert_equal_outputs(net, small, ops, state, (3, 16, 16))
    conv0, conv1 = net.convs.conv0, net.convs.conv1
    pruned0 = ~conv0.weight_mask.flatten(1).any(1)
    # conv0's pruned filters output relu(bias) everywhere; conv1 pads with zeros, so only a zero constant can go.
    # conv1's pruned filters are folded into fc0 through the pool and the flatten.
    assert done.units["convs.conv0"][0] == 12 - int((pruned0 & (conv0.bias <= 0)).sum())
    assert done.units["convs.conv1"][0] == 3
    kept_conv0 = done.units["convs.conv0"][0]
    # conv0: kept filters x 3 x 3x3 + biases; conv1: 3 x kept x 3x3 + 3; fc0 reads 3 channels of 8x8 after the pool
    assert done.params == kept_conv0 * 27 + kept_conv0 + 3 * kept_conv0 * 9 + 3 + 3 * 64 * 16 + 16 + 16 * 16 + 16 + 16 * 10 + 10
    assert done.params == sum(p.numel() for p in small.parameters())


def test_pruned_filters_before_batch_norm_output_its_constant():
    """VGG's convolutions have no bias: a fully pruned filter outputs 0, and its batch norm
    turns that into beta - gamma * mean / sqrt(var + eps) for every pixel, before the ReLU."""
    torch.manual_seed(3)
    net = VGG((3, 16, 16), 10, depth=16)
    masks.attach(net, ["Conv2d"])
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2)
                m.weight.normal_()
                m.bias.normal_()
    pruners.prune(net, pcfg(name="l1_filter", layer_types=["Conv2d"], sparsity=0.75), 1, 2, seed=0)
    ops, state, done, small = compacted(net.eval(), (3, 16, 16))
    assert_equal_outputs(net, small, ops, state, (3, 16, 16), n=16)
    bn = net.blocks.b0.bn
    constant = (bn.bias - bn.weight * bn.running_mean / (bn.running_var + bn.eps).sqrt()).detach()
    pruned = ~net.blocks.b0.conv.weight_mask.flatten(1).any(1)
    assert done.units["blocks.b0.conv"][0] == 64 - int((pruned & (constant <= 0)).sum())
    assert small.blocks.b0.conv.bias is None or "blocks.b0.conv.bias" not in done.state


def test_the_bound_catches_a_real_change():
    """The control: the bound is a worst case (here about 1e-3 of the outputs), yet a change
    of one weight by 1% of its value is more than it allows."""
    net = hand_made_mlp()
    ops, state, _, small = compacted(net, (1, 4, 4))
    with torch.no_grad():
        small.output.weight[0, 0] *= 1.01
    with pytest.raises(AssertionError, match="max"):
        assert_equal_outputs(net, small, ops, state, (1, 4, 4))


def test_csr_layers_compute_the_same_function():
    net = hand_made_mlp()
    ops, state, done, _ = compacted(net, (1, 4, 4))
    sparse = csr.from_file(done.ops, csr.to_file(done.ops, done.state))
    assert_equal_outputs(net, sparse, ops, state, (1, 4, 4))
    stored = csr.to_file(done.ops, done.state)
    assert stored["input.weight.col_indices"].dtype == torch.int16 and stored["input.weight.crow_indices"].dtype == torch.int32


def test_residual_networks_are_refused_with_one_line():
    with pytest.raises(forward.NotAChain, match="residual connections") as err:
        forward.chain_of(CifarResNet((3, 32, 32), 10))
    assert "\n" not in str(err.value)


def test_onnx_runtime_computes_what_torch_computes(tmp_path):
    pytest.importorskip("onnxruntime")
    import onnxruntime

    from rlth_runner.export.to_onnx import write_onnx

    for net, shape in ((hand_made_mlp(), (1, 4, 4)), (ConvNet((3, 16, 16), 10, convs=(4, 4), fcs=(8, 8)).eval(), (3, 16, 16))):
        ops, state, done, small = compacted(net, shape)
        path = tmp_path / f"{type(net).__name__}.onnx"
        info = write_onnx(small, ops, state, shape, path)  # raises when ONNX Runtime differs by more than rounding
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        x = torch.randn(5, *shape)
        theirs = torch.from_numpy(session.run(None, {"input": x.numpy()})[0])
        with torch.no_grad():
            ours = small(x)
        assert bool(((theirs - ours).abs() <= bounds.rounding_bound(ops, state, x)).all())
        assert info["max_abs_diff"] >= 0 and info["opset"] == 17


def test_the_two_four_pattern_keeps_the_two_largest_of_every_four():
    from rlth_runner.export.semi import _two_four, time_two_four

    w = torch.tensor([[0.1, -3.0, 2.0, 0.5, 0.0, 0.0, 0.0, 1.0]])
    assert torch.equal(_two_four(w), torch.tensor([[0.0, -3.0, 2.0, 0.0, 0.0, 0.0, 0.0, 1.0]]))
    if not torch.cuda.is_available():
        assert "no CUDA GPU" in time_two_four([], {}, 0)["skipped"]
