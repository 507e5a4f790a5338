"""An nn.Module that runs a chain of documented operations (forward.py).

It is what a compacted network is: plain torch layers (Linear, Conv2d,
BatchNorm2d) of whatever sizes the chain says, kept at their original dotted
names, so its state dict keys are the chain's tensor names (`fc1.weight`) and
load straight from compact.safetensors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

INDEX = "input_index"  # a `select` op's tensor: the input features a compacted network still reads


def _layer(op: dict) -> nn.Module:
    if op["op"] == "linear":
        return nn.Linear(op["in"], op["out"], bias=op["bias"])
    if op["op"] == "conv2d":
        return nn.Conv2d(op["in"], op["out"], tuple(op["kernel"]), stride=tuple(op["stride"]), padding=tuple(op["padding"]), bias=op["bias"])
    if op["op"] == "batch_norm":
        return nn.BatchNorm2d(op["channels"], eps=op["eps"])
    raise ValueError(f"op {op['op']!r} has no layer")


def _place(root: nn.Module, dotted: str, module: nn.Module) -> None:
    """Put `module` at `root.<dotted>`, creating empty containers on the way."""
    *parents, leaf = dotted.split(".")
    node = root
    for part in parents:
        if not hasattr(node, part):
            node.add_module(part, nn.Module())
        node = getattr(node, part)
    node.add_module(leaf, module)


class SpecNet(nn.Module):
    """The chain `ops`; load its tensors with `load_state_dict`."""

    def __init__(self, ops: list[dict], input_features: int | None = None):
        super().__init__()
        self.ops = [dict(op) for op in ops]
        self._layers: list[nn.Module | None] = []
        for op in self.ops:
            if "layer" in op:
                module = _layer(op)
                _place(self, op["layer"], module)
                self._layers.append(module)
            else:
                self._layers.append(None)
        if any(op["op"] == "select" for op in self.ops):
            self.register_buffer(INDEX, torch.zeros(input_features or 0, dtype=torch.long))

    def steps(self) -> list[tuple[dict, nn.Module | None]]:
        """Each op with its layer (None for a tensor-free op)."""
        return list(zip(self.ops, self._layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for op, layer in self.steps():
            x = layer(x) if layer is not None else apply(op, x, getattr(self, INDEX, None))
        return x


def apply(op: dict, x: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
    """A tensor-free op."""
    kind = op["op"]
    if kind == "flatten":
        return x.flatten(1)
    if kind == "relu":
        return F.relu(x)
    if kind == "max_pool2d":
        return F.max_pool2d(x, op["kernel"])
    if kind == "global_avg_pool":
        return F.adaptive_avg_pool2d(x, 1)
    if kind == "select":
        return x.index_select(1, index)
    raise ValueError(f"unknown op {op['op']!r}")


def from_state(ops: list[dict], state: dict[str, torch.Tensor]) -> SpecNet:
    """A SpecNet holding `state` (extra entries, such as masks, are ignored), in eval mode."""
    index = state.get(INDEX)
    net = SpecNet(ops, None if index is None else len(index))
    wanted = net.state_dict()
    missing = [key for key in wanted if key not in state and not key.endswith("num_batches_tracked")]
    if missing:
        raise KeyError(f"the tensors lack {', '.join(missing)}")
    net.load_state_dict({key: state[key] for key in wanted if key in state}, strict=False)
    return net.eval()


@torch.no_grad()
def shapes(ops: list[dict], state: dict[str, torch.Tensor], input_shape) -> list[tuple[int, ...]]:
    """The shape of one example before each op (and after the last)."""
    net = from_state(ops, state)
    x = torch.zeros(1, *input_shape)
    out = [tuple(x.shape[1:])]
    for op, layer in net.steps():
        x = layer(x) if layer is not None else apply(op, x, getattr(net, INDEX, None))
        out.append(tuple(x.shape[1:]))
    return out
