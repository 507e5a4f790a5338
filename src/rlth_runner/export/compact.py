"""Compaction: the same function as a masked chain (forward.py), with the units
the masks made dead removed, as a smaller dense network.

A unit is an output feature of a linear layer or an output channel of a
convolution (with what acts on it alone after the layer: ReLU, pooling, batch norm).

* No outgoing weight: nothing reads the unit, so it goes, with its row of
  weights, its bias and its batch-norm entries. Found from the output
  backwards, since removing a unit can leave the ones feeding it unread.
* No incoming weight: the unit outputs a constant, act(b) (through batch norm
  when there is one: a fully pruned filter followed by batch norm outputs
  beta - gamma * mean / sqrt(var + eps) before the ReLU, not zero). The next
  layer gets that constant times its weights added to its bias, and the unit
  goes. Found from the input forwards, since a folded unit can leave a unit
  of the next layer with no input. A convolution with zero padding sees a
  constant channel as zeros at the border, so a nonzero constant cannot be
  folded into it exactly: that unit stays (its filter is all zeros, its output act(b)).
* Input features no first-layer weight reads (a linear first layer): a
  `select` op keeps only the features read.

The output layer keeps all its units (they are the classes). Layers grown by
`policy=grow` are compacted like any other and never merged away. One pass
forwards then one backwards reach the fixed point: removing an unread unit
changes no constant, and folding a constant removes only zero columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from . import specnet

WEIGHTED = ("linear", "conv2d")


@dataclass
class Compacted:
    ops: list[dict]
    state: dict[str, torch.Tensor]
    units: dict[str, list[int]]  # layer -> [units kept, units before]
    inputs: list[int] | None  # [input features kept, before] when a `select` op was added
    folded: int  # units whose constant output went into the next layer's bias
    params: int  # parameters of the compacted network (weights, biases, batch-norm scales and shifts)


def _masked_weight(state: dict, layer: str) -> torch.Tensor:
    w = state[f"{layer}.weight"]
    mask = state.get(f"{layer}.weight_mask")
    return w * mask.to(w.dtype) if mask is not None else w


def _through(after: list[dict], state: dict, c: torch.Tensor) -> torch.Tensor:
    """A constant unit's value after the unit-wise ops that follow its layer."""
    for op in after:
        if op["op"] == "relu":
            c = c.clamp_min(0)
        elif op["op"] == "batch_norm":
            s = {k: state[f"{op['layer']}.{k}"].double() for k in ("weight", "bias", "running_mean", "running_var")}
            c = (c - s["running_mean"]) / (s["running_var"] + op["eps"]).sqrt() * s["weight"] + s["bias"]
        # pooling and flattening leave a constant unit constant
    return c


def _columns(op: dict, units: torch.Tensor, factor: int) -> torch.Tensor:
    """The input columns of a layer that belong to each of the previous layer's units."""
    return units.repeat_interleave(factor) if op["op"] == "linear" else units


def _reads(op: dict, w: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Per output unit: whether it has a nonzero weight from the columns `cols`."""
    return (w[:, cols] != 0).flatten(1).any(1)


def compact(ops: list[dict], state: dict[str, torch.Tensor], input_shape) -> Compacted:
    state = {k: v.detach().cpu() for k, v in state.items()}
    at = [i for i, op in enumerate(ops) if op["op"] in WEIGHTED]
    n = len(at)
    layer_ops = [ops[i] for i in at]
    after = [ops[at[j] + 1:(at[j + 1] if j + 1 < n else len(ops))] for j in range(n)]
    sizes = specnet.shapes(ops, state, input_shape)
    # Features per unit where a flatten turns channels into features for the next layer.
    factor = [next((math.prod(sizes[at[j] + 1 + k][1:]) for k, op in enumerate(after[j]) if op["op"] == "flatten"), 1)
              for j in range(n)]
    w = [_masked_weight(state, op["layer"]).double() for op in layer_ops]
    bias = [state[f"{op['layer']}.bias"].double() if op["bias"] else torch.zeros(op["out"], dtype=torch.float64) for op in layer_ops]
    keep = [torch.ones(op["out"], dtype=torch.bool) for op in layer_ops]
    const = [torch.zeros(op["out"], dtype=torch.bool) for op in layer_ops]
    value = [torch.zeros(op["out"], dtype=torch.float64) for op in layer_ops]
    folded = 0

    for j, op in enumerate(layer_ops):  # forwards: constants, folded into the next layer's bias
        if j:
            if const[j - 1].all():
                const[j - 1][0] = False  # a layer keeps one unit (torch has no zero-channel convolution): it computes act(b)
            for u in const[j - 1].nonzero().flatten().tolist():
                c = value[j - 1][u]
                if op["op"] == "linear":
                    bias[j] += w[j][:, u * factor[j - 1]:(u + 1) * factor[j - 1]].sum(1) * c
                elif any(op["padding"]) and c != 0:
                    const[j - 1][u] = False  # zero padding makes it no constant to this layer: it stays
                    continue
                else:
                    bias[j] += w[j][:, u].sum((1, 2)) * c
                folded += 1
            keep[j - 1] &= ~const[j - 1]
        if j < n - 1:
            live = _columns(op, keep[j - 1], factor[j - 1]) if j else torch.ones(w[j].shape[1], dtype=torch.bool)
            const[j] = ~_reads(op, w[j], live)
            value[j] = _through(after[j], state, bias[j])

    for j in range(n - 1, 0, -1):  # backwards: units no kept unit of the next layer reads
        rows = w[j][keep[j]]
        unread = ~(rows != 0).transpose(0, 1).reshape(keep[j - 1].numel(), -1).any(1)
        keep[j - 1] &= ~unread
        if not keep[j - 1].any():
            keep[j - 1][(~const[j - 1]).nonzero()[0]] = True  # one unit, whose zero weights keep it exact
    first = layer_ops[0]
    inputs = None
    if first["op"] == "linear" and any(op["op"] == "flatten" for op in ops[:at[0]]):
        read = (w[0][keep[0]] != 0).any(0)
        read[0] |= not read.any()
        if not read.all():
            inputs = read

    return _build(ops, state, at, after, factor, keep, bias, inputs, folded)


def _build(ops, state, at, after, factor, keep, bias, inputs, folded) -> Compacted:
    out_ops, out_state, units = [], {}, {}
    n = len(at)
    for i, op in enumerate(ops):
        op = dict(op)
        if i == at[0] and inputs is not None:
            out_ops.append({"op": "select", "in": inputs.numel(), "out": int(inputs.sum())})
            out_state[specnet.INDEX] = inputs.nonzero().flatten()
        if i in at:
            j = at.index(i)
            rows = keep[j]
            cols = (inputs if inputs is not None else torch.ones(op["in"], dtype=torch.bool)) if j == 0 else \
                _columns(op, keep[j - 1], factor[j - 1])
            name = op["layer"]
            out_state[f"{name}.weight"] = _masked_weight(state, name)[rows][:, cols].contiguous()
            if op["bias"] or bool(bias[j].any()):
                out_state[f"{name}.bias"] = bias[j][rows].float()  # exact where nothing was folded in: float32 -> 64 -> 32
                op["bias"] = True
            op["in"], op["out"] = int(cols.sum()), int(rows.sum())
            units[name] = [op["out"], rows.numel()]
        elif op["op"] == "batch_norm":
            j = max(k for k in range(n) if at[k] < i)
            for key in ("weight", "bias", "running_mean", "running_var"):
                out_state[f"{op['layer']}.{key}"] = state[f"{op['layer']}.{key}"][keep[j]].clone()
            out_state[f"{op['layer']}.num_batches_tracked"] = state[f"{op['layer']}.num_batches_tracked"].clone()
            op["channels"] = int(keep[j].sum())
        out_ops.append(op)
    net = specnet.from_state(out_ops, out_state)
    params = sum(p.numel() for p in net.parameters())
    return Compacted(out_ops, net.state_dict(), units, None if inputs is None else [int(inputs.sum()), inputs.numel()], folded, params)
