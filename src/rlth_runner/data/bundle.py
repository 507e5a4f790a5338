"""What every dataset loader returns: tensors for train/val/test plus their shape."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from .errors import DataValueError


@dataclass
class DataBundle:
    name: str
    train: tuple[torch.Tensor, torch.Tensor]
    val: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    input_shape: tuple[int, ...]
    num_classes: int  # the network's output width; 1 for a scalar regression target
    task: str = "classification"  # a key of config/choices.py TASKS
    # Applied to each training batch (x, generator) -> x on the device; None for none.
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None

    def to(self, device: torch.device | str) -> "DataBundle":
        move = lambda xy: (xy[0].to(device), xy[1].to(device))  # noqa: E731
        return replace(self, train=move(self.train), val=move(self.val), test=move(self.test))


def split_indices(n: int, holdout: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded (keep, holdout) split of range(n)."""
    if not 0 <= holdout < n:
        raise ValueError(f"cannot hold out {holdout} of {n} examples")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[holdout:], perm[:holdout]


def check_holdout(key: str, size: int, n: int, name: str, minimum: int = 0, of: str = "training examples") -> None:
    """DataValueError naming `key` unless `size` of `n` examples can be held out with at least one left."""
    if not minimum <= size < n:
        raise DataValueError(f"{key}={size} must be less than the {n:,} {of} of {name} (allowed: {minimum}..{n - 1}; "
                             f"at least one example must be left to train on)")


def hold_out(name: str, x: torch.Tensor, y: torch.Tensor, val_size: int, seed: int):
    """Split a training set into (train, val); the validation examples never train."""
    check_holdout("dataset.val_size", val_size, len(x), name)
    keep, val = split_indices(len(x), val_size, seed)
    return (x[keep], y[keep]), (x[val], y[val])
