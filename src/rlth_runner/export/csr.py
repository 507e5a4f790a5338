"""Linear layers stored and run as sparse CSR (compressed sparse rows).

On disk (compact_csr.safetensors) a linear layer's weight is three tensors,
`<layer>.weight.crow_indices` (int32, one more than its rows),
`<layer>.weight.col_indices` (int16 when the layer has fewer than 32,768
inputs, else int32) and `<layer>.weight.values` (float32), one entry per
nonzero weight: 6 bytes a weight instead of the 4 bytes of every position of
a dense matrix, so it is smaller below 2/3 of the weights. Every other tensor
is stored as in compact.safetensors.

In memory the indices are int32 (what torch's CPU kernels take). Between
consecutive linear layers the activations stay transposed (features x batch),
because torch multiplies a sparse matrix by a dense one on the right:
y^T = W x^T + b, with one transpose in and one out of a run of linear layers.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn

from . import specnet

PARTS = ("crow_indices", "col_indices", "values")
SMALL_INDEX = 2**15  # int16 holds column indices below this


def _csr(weight: torch.Tensor) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        sparse = weight.detach().to_sparse_csr()
    # The indices come from torch's own conversion: checking them again would only cost time.
    return torch.sparse_csr_tensor(sparse.crow_indices().int(), sparse.col_indices().int(), sparse.values(), weight.shape,
                                   check_invariants=False)


class CsrNet(nn.Module):
    """The chain `ops` with `state`'s linear weights held as CSR."""

    def __init__(self, ops: list[dict], state: dict[str, torch.Tensor]):
        super().__init__()
        self.net = specnet.from_state(ops, state)  # convolutions, batch norms and the input index
        self.weights: dict[str, torch.Tensor] = {}
        self.biases: dict[str, torch.Tensor | None] = {}
        for op in ops:
            if op["op"] == "linear":
                self.weights[op["layer"]] = _csr(state[f"{op['layer']}.weight"])
                bias = state.get(f"{op['layer']}.bias")
                self.biases[op["layer"]] = None if bias is None else bias.detach().view(-1, 1).clone()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        transposed = False
        for op, layer in self.net.steps():
            kind = op["op"]
            if kind == "linear":
                if not transposed:
                    x, transposed = x.transpose(0, 1), True
                weight, bias = self.weights[op["layer"]], self.biases[op["layer"]]
                x = torch.addmm(bias, weight, x) if bias is not None else weight @ x
            elif kind == "relu":
                x = F.relu(x)
            elif kind == "select" and transposed:
                x = x.index_select(0, self.net.input_index)
            else:
                if transposed:
                    x, transposed = x.transpose(0, 1), False
                x = layer(x) if layer is not None else specnet.apply(op, x, getattr(self.net, specnet.INDEX, None))
        return x.transpose(0, 1) if transposed else x


def to_file(ops: list[dict], state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """compact_csr.safetensors' tensors from a compacted network's state."""
    out = {key: value for key, value in state.items()}
    for op in ops:
        if op["op"] == "linear":
            weight = _csr(out.pop(f"{op['layer']}.weight"))
            cols = weight.col_indices().to(torch.int16 if op["in"] < SMALL_INDEX else torch.int32)
            for part, tensor in zip(PARTS, (weight.crow_indices(), cols, weight.values())):
                out[f"{op['layer']}.weight.{part}"] = tensor.contiguous()
    return out


def from_file(ops: list[dict], tensors: dict[str, torch.Tensor]) -> CsrNet:
    """A CsrNet from compact_csr.safetensors' tensors."""
    state = {key: value for key, value in tensors.items() if not key.endswith(tuple(f".weight.{p}" for p in PARTS))}
    for op in ops:
        if op["op"] == "linear":
            crow, col, values = (tensors[f"{op['layer']}.weight.{p}"] for p in PARTS)
            state[f"{op['layer']}.weight"] = torch.sparse_csr_tensor(crow.int(), col.int(), values, (op["out"], op["in"]), check_invariants=True).to_dense()
    return CsrNet(ops, state)
