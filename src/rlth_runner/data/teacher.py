"""Synthetic regression data from a sparse one-hidden-layer teacher network.

The teacher-student setup of "Why Lottery Ticket Wins?" (ICLR 2021
submission, section 5): inputs x ~ N(0, I_d); a teacher with K ReLU neurons,
each connected to r of the d inputs (chosen without replacement) with weights
drawn from U[-0.5, 0.5]; the output is the mean of the neurons,
y = (1/K) sum_j relu(w_j . x) + noise. The noise is Gaussian with standard
deviation `noise` times the root mean square of the
noiseless outputs, the paper's noise level sigma / E_y.

Everything is drawn from `data_seed`, so the data is identical across runs. The
`N` training examples and the validation examples carry noise; the test
targets are the teacher's noiseless outputs, so the test error measures how
far the trained network is from the teacher itself.
"""

from __future__ import annotations

import torch

from .bundle import DataBundle
from .errors import DataValueError


def teacher_weights(d: int, K: int, r: int, generator: torch.Generator) -> torch.Tensor:
    """K x d, with exactly r nonzero weights in each row (neuron)."""
    if not 1 <= r <= d:
        raise DataValueError(f"dataset.r={r} must be between 1 and dataset.d={d}")
    w = torch.zeros(K, d)
    for j in range(K):
        support = torch.randperm(d, generator=generator)[:r]
        values = torch.rand(r, generator=generator) - 0.5
        # an exact zero would drop a connection; its probability is ~2^-24 per weight
        w[j, support] = torch.where(values == 0, torch.full_like(values, 0.25), values)
    return w


def teacher_outputs(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return torch.relu(x @ w.T).mean(dim=1, keepdim=True)


def make_teacher(d: int = 100, K: int = 5, r: int = 20, N: int = 1000, noise: float = 1e-3, val_size: int = 200, test_size: int = 1000, data_seed: int = 0):
    """(weights, {"train"|"val"|"test": (x, y)}): the teacher and its data."""
    g = torch.Generator().manual_seed(data_seed)
    w = teacher_weights(d, K, r, g)
    sizes = {"train": N, "val": val_size, "test": test_size}
    xs = {k: torch.randn(n, d, generator=g) for k, n in sizes.items()}
    clean = {k: teacher_outputs(w, x) for k, x in xs.items()}
    train_val = torch.cat([clean["train"], clean["val"]])
    sigma = noise * float(train_val.pow(2).mean().sqrt())
    ys = {k: clean[k] + sigma * torch.randn(clean[k].shape, generator=g) for k in ("train", "val")}
    ys["test"] = clean["test"]
    return w, {k: (xs[k], ys[k]) for k in sizes}


def load_teacher(d: int = 100, K: int = 5, r: int = 20, N: int = 1000, noise: float = 1e-3, val_size: int = 200, test_size: int = 1000, data_seed: int = 0, **_) -> DataBundle:
    for key, value in (("N", N), ("val_size", val_size), ("test_size", test_size)):
        if value < 1:
            raise DataValueError(f"dataset.{key}={value} must be >= 1: dataset=teacher draws that many examples")
    _, splits = make_teacher(d, K, r, N, noise, val_size, test_size, data_seed)
    return DataBundle("teacher", splits["train"], splits["val"], splits["test"], (d,), 1, task="regression")
