"""A network's forward pass as a list of plain operations: what ticket.json
calls `forward`, so that a program without rlth-runner can run a ticket
(docs/export.md has the vocabulary and a ten-line interpreter).

Only chains are described: each operation takes the previous one's output.
The model families that are chains (MLPs, LeNets, Conv-2/4/6, VGG) have one;
a residual network (resnet20, rlth_resnet) adds a block's input to its output
and the student averages its units, so neither is a chain of these operations
(`NotAChain`). Each op is a dict with `op` and its settings; a layer's tensors
are `<layer>.weight`, `<layer>.bias` (and a batch norm's `running_mean`,
`running_var`) in the network's own state dict names.
"""

from __future__ import annotations

from torch import nn

from ..models.conv import ConvNet
from ..models.lenet import LeNet5, LeNet300100
from ..models.mlp import MLP
from ..models.vgg import VGG

# Operations that act on each unit (feature or channel) alone: compaction moves through them.
UNITWISE = ("relu", "max_pool2d", "global_avg_pool", "batch_norm", "flatten")


class NotAChain(ValueError):
    """The model's forward pass is not a chain of the documented operations; the message says why."""


def linear(name: str, layer: nn.Linear) -> dict:
    return {"op": "linear", "layer": name, "in": layer.in_features, "out": layer.out_features, "bias": layer.bias is not None}


def conv2d(name: str, layer: nn.Conv2d) -> dict:
    if layer.groups != 1 or tuple(layer.dilation) != (1, 1) or layer.padding_mode != "zeros" or isinstance(layer.padding, str):
        raise NotAChain(f"{name} is a grouped, dilated or non-zero-padded convolution")
    return {"op": "conv2d", "layer": name, "in": layer.in_channels, "out": layer.out_channels, "kernel": list(layer.kernel_size),
            "stride": list(layer.stride), "padding": list(layer.padding), "bias": layer.bias is not None}


def batch_norm(name: str, layer: nn.BatchNorm2d) -> dict:
    if not (layer.affine and layer.track_running_stats):
        raise NotAChain(f"{name} is a batch norm without affine parameters or running statistics")
    return {"op": "batch_norm", "layer": name, "channels": layer.num_features, "eps": layer.eps}


RELU, FLATTEN = {"op": "relu"}, {"op": "flatten"}


def _pool(kernel: int) -> dict:
    return {"op": "max_pool2d", "kernel": kernel}


def _mlp(net: MLP) -> list[dict]:
    ops = [FLATTEN, linear("input", net.input), RELU]
    for name, layer in net.hidden.items():  # grown layers included, in the network's order
        ops += [linear(f"hidden.{name}", layer), RELU]
    return ops + [linear("output", net.output)]


def _lenet300(net: LeNet300100) -> list[dict]:
    return [FLATTEN, linear("fc1", net.fc1), RELU, linear("fc2", net.fc2), RELU, linear("output", net.output)]


def _lenet5(net: LeNet5) -> list[dict]:
    return [conv2d("conv1", net.conv1), RELU, _pool(2), conv2d("conv2", net.conv2), RELU, _pool(2), FLATTEN,
            linear("fc1", net.fc1), RELU, linear("fc2", net.fc2), RELU, linear("output", net.output)]


def _convnet(net: ConvNet) -> list[dict]:
    ops = []
    for i, (name, conv) in enumerate(net.convs.items()):
        ops += [conv2d(f"convs.{name}", conv), RELU] + ([_pool(2)] if i % 2 else [])
    ops.append(FLATTEN)
    for name, fc in net.fcs.items():
        ops += [linear(f"fcs.{name}", fc), RELU]
    return ops + [linear("output", net.output)]


def _vgg(net: VGG) -> list[dict]:
    ops = []
    for name, block in net.blocks.items():
        ops += [conv2d(f"blocks.{name}.conv", block.conv), batch_norm(f"blocks.{name}.bn", block.bn), RELU]
        if name in net.pool_after:
            ops.append(_pool(2))
    return ops + [{"op": "global_avg_pool"}, FLATTEN, linear("output", net.output)]


# Exact classes: a subclass may override forward, and then its chain is unknown.
CHAINS = {MLP: _mlp, LeNet300100: _lenet300, LeNet5: _lenet5, ConvNet: _convnet, VGG: _vgg}


def chain_of(net: nn.Module) -> list[dict]:
    """The forward pass of `net` as documented operations, or NotAChain."""
    describe = CHAINS.get(type(net))
    if describe is None:
        kind = type(net).__name__
        why = {"CifarResNet": "its residual connections add a block's input to its output",
               "RLTHResNet": "its residual connections add a block's input to its output",
               "Student": "its output is the mean of its units, not a layer"}.get(kind, "it is not one of the chain models")
        raise NotAChain(f"{kind} is not a chain of layers ({why}); the chain models are "
                        "mlp, rlth_mlp, lenet_300_100, lenet5, conv2, conv4, conv6, vgg16 and vgg19")
    return [dict(op) for op in describe(net)]


def layers(ops: list[dict]) -> list[str]:
    """The names of the ops that hold tensors, in order."""
    return [op["layer"] for op in ops if "layer" in op]
