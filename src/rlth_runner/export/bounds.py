"""How far two float32 evaluations of the same function may differ.

Compaction, CSR storage and ONNX Runtime compute the same sums as the masked
network in another order (zeros skipped, other kernels, constants folded into
biases), so their outputs differ only by rounding. The standard bound for a
float sum of n products (Higham, Accuracy and Stability of Numerical
Algorithms, 3.1) is |fl(w.x) - w.x| <= gamma_n |w|.|x|, gamma_n = n u / (1 - n u),
u = 2^-24 for float32. Carried through a chain of layers (ReLU and max pooling
do not enlarge an error, a layer multiplies the error before it by |W|), the
error of each output is at most gamma_N times the same output of the network
with every weight, bias and input replaced by its absolute value, where N adds
up, over the layers along the chain, the most nonzero weights any unit has
(plus one for the bias): a product with a zero weight is an exact zero, and
adding an exact zero rounds nothing, whatever order the kernel sums in. Two
evaluations differ by at most twice that. It is a worst case: real rounding
errors partly cancel and are usually orders of magnitude smaller.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

UNIT_ROUNDOFF = 2.0**-24  # float32
BATCH_NORM_OPS = 4  # subtract the mean, scale, multiply by gamma, add beta: one rounding each


def _most_nonzero(weight: torch.Tensor) -> int:
    """The most nonzero weights of any one output unit (a row, or a filter)."""
    return int((weight != 0).flatten(1).sum(1).max()) if weight.numel() else 0


@torch.no_grad()
def rounding_bound(ops: list[dict], state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Per output element: the most two float32 evaluations of the chain `ops` on `x` can differ."""
    s = x.double().abs()
    n = 0
    for op in ops:
        kind = op["op"]
        w = state.get(f"{op.get('layer')}.weight")
        b = state.get(f"{op.get('layer')}.bias")
        if kind == "linear":
            s = F.linear(s, w.double().abs(), None if b is None else b.double().abs())
            n += _most_nonzero(w) + 1
        elif kind == "conv2d":
            s = F.conv2d(s, w.double().abs(), None if b is None else b.double().abs(), stride=op["stride"], padding=op["padding"])
            n += _most_nonzero(w) + 1
        elif kind == "batch_norm":
            layer = op["layer"]
            scale = (w.double() / (state[f"{layer}.running_var"].double() + op["eps"]).sqrt()).abs()
            shift = b.double().abs() + scale * state[f"{layer}.running_mean"].double().abs()
            s = s * scale.view(1, -1, 1, 1) + shift.view(1, -1, 1, 1)
            n += BATCH_NORM_OPS
        elif kind == "max_pool2d":
            s = F.max_pool2d(s, op["kernel"])
        elif kind == "global_avg_pool":
            n += s.shape[-1] * s.shape[-2]
            s = F.adaptive_avg_pool2d(s, 1)
        elif kind == "flatten":
            s = s.flatten(1)
        elif kind == "select":
            s = s.index_select(1, state["input_index"])
        # relu: |relu(a) - relu(b)| <= |a - b| and |relu(a)| <= |a|, so neither the error nor the bound grows
    gamma = n * UNIT_ROUNDOFF / (1 - n * UNIT_ROUNDOFF)
    return 2 * gamma * s
