"""K copies of one architecture as one network (`replicas`, run/batched.py).

The replicas are folded into the batch dimension, replica-major: the stacked
network takes `[K*B, ...]`, rows `i*B .. (i+1)*B - 1` being replica i's batch.
So every model's own `forward` (flatten, residual adds, pooling) runs
unchanged, and only the leaf modules that hold parameters are swapped:

    Linear       weight [K, out, in]: one batched matrix product (baddbmm)
    Conv2d       weight [K, O, C/g, kh, kw]: one convolution of K*g groups over
                 [B, K*C, H, W], the replicas side by side as channels
    BatchNorm    per-replica statistics: a batch norm over K*C channels in the
                 same side-by-side layout, so eval mode uses each replica's own

Every state_dict key is the single network's, with a leading K dimension
(masks included: `weight_mask` stacks with its weight, so masks.MaskApplier and
EnforceMasks work unchanged). `torch.func.vmap` over `functional_call` was
measured slower than K separate models on LeNet-300-100 (docs/design.md).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn



class NotStackable(ValueError):
    """The model has a layer with parameters that no stacked layer replaces."""


def _stacked(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack([t.detach() for t in tensors]).clone()


class _Stacked(nn.Module):
    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.replicas = len(layers)
        first = layers[0]
        for name, _ in first.named_parameters(recurse=False):
            param = getattr(first, name)
            if param is not None:
                self.register_parameter(name, nn.Parameter(_stacked([getattr(m, name) for m in layers]), requires_grad=param.requires_grad))
        for name, buf in first.named_buffers(recurse=False):
            if buf is not None:
                self.register_buffer(name, _stacked([getattr(m, name) for m in layers]))


class StackedLinear(_Stacked):
    def __init__(self, layers: list[nn.Linear]):
        super().__init__(layers)
        self.has_bias = layers[0].bias is not None

    def forward(self, x):
        k, out = self.replicas, self.weight.shape[1]
        x = x.reshape(k, -1, x.shape[-1])
        y = torch.baddbmm(self.bias.unsqueeze(1), x, self.weight.transpose(1, 2)) if self.has_bias else torch.bmm(x, self.weight.transpose(1, 2))
        return y.reshape(-1, out)


def _side_by_side(x: torch.Tensor, k: int) -> torch.Tensor:
    """[K*B, C, ...] -> [B, K*C, ...]."""
    b = x.shape[0] // k
    return x.reshape(k, b, *x.shape[1:]).transpose(0, 1).reshape(b, k * x.shape[1], *x.shape[2:])


def _replica_major(y: torch.Tensor, k: int) -> torch.Tensor:
    """[B, K*C, ...] -> [K*B, C, ...]."""
    b, c = y.shape[0], y.shape[1] // k
    return y.reshape(b, k, c, *y.shape[2:]).transpose(0, 1).reshape(k * b, c, *y.shape[2:])


class StackedConv2d(_Stacked):
    def __init__(self, layers: list[nn.Conv2d]):
        super().__init__(layers)
        conv = layers[0]
        if conv.padding_mode != "zeros":
            raise NotStackable(f"a Conv2d with padding_mode={conv.padding_mode!r}")
        self.stride, self.padding, self.dilation, self.groups = conv.stride, conv.padding, conv.dilation, conv.groups
        self.has_bias = conv.bias is not None

    def forward(self, x):
        k = self.replicas
        weight = self.weight.reshape(-1, *self.weight.shape[2:])
        bias = self.bias.reshape(-1) if self.has_bias else None
        y = F.conv2d(_side_by_side(x, k), weight, bias, self.stride, self.padding, self.dilation, self.groups * k)
        return _replica_major(y, k)


class StackedBatchNorm(_Stacked):
    def __init__(self, layers: list[nn.modules.batchnorm._BatchNorm]):
        super().__init__(layers)
        bn = layers[0]
        self.eps, self.momentum, self.track = bn.eps, bn.momentum, bn.track_running_stats
        self.affine = bn.affine

    def forward(self, x):
        k = self.replicas
        # As nn.BatchNorm: batch statistics in training (or without running ones), running ones in eval.
        use_batch = self.training or not self.track
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                momentum = 1.0 / float(self.num_batches_tracked[0])
        mean = self.running_mean.view(-1) if self.track else None
        var = self.running_var.view(-1) if self.track else None
        weight = self.weight.reshape(-1) if self.affine else None
        bias = self.bias.reshape(-1) if self.affine else None
        y = F.batch_norm(_side_by_side(x, k), mean, var, weight, bias, use_batch, momentum, self.eps)
        return _replica_major(y, k)


STACKED = {nn.Linear: StackedLinear, nn.Conv2d: StackedConv2d, nn.BatchNorm1d: StackedBatchNorm, nn.BatchNorm2d: StackedBatchNorm}


def stack(nets: list[nn.Module], model: str = "this model") -> nn.Module:
    """One network computing all of `nets` (same architecture) on a replica-major batch."""
    first = nets[0]
    keys = [(key, tuple(value.shape)) for key, value in first.state_dict().items()]
    for net in nets[1:]:
        if [(key, tuple(value.shape)) for key, value in net.state_dict().items()] != keys:
            raise ValueError("replicas to stack must have the same architecture (state_dict keys and shapes)")
    stacked = copy.deepcopy(first)
    modules = [dict(net.named_modules()) for net in nets]
    for name, module in list(first.named_modules()):
        if not any(True for _ in module.parameters(recurse=False)) and not isinstance(module, nn.modules.batchnorm._BatchNorm):
            continue
        cls = STACKED.get(type(module))
        if cls is None:
            raise NotStackable(f"replicas: model={model} has a {type(module).__name__} layer ({name or 'the model'}) "
                               "that cannot be stacked; use replicas=1")
        replace(stacked, name, cls([m[name] for m in modules]))
    return stacked.train(first.training)


def replace(root: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, leaf, module)


@torch.no_grad()
def unstack_into(stacked: nn.Module, nets: list[nn.Module], only: int | None = None) -> None:
    """Copy replica i's weights, masks and statistics into nets[i] (every i, or `only`)."""
    state = stacked.state_dict()
    for i, net in enumerate(nets):
        if only is not None and i != only:
            continue
        for key, value in net.state_dict().items():
            value.copy_(state[key][i])
