"""What every dataset loader returns: tensors for train/val/test plus their shape."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class DataBundle:
    name: str
    train: tuple[torch.Tensor, torch.Tensor]
    val: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    input_shape: tuple[int, ...]
    num_classes: int

    def to(self, device: torch.device | str) -> "DataBundle":
        move = lambda xy: (xy[0].to(device), xy[1].to(device))  # noqa: E731
        return DataBundle(self.name, move(self.train), move(self.val), move(self.test), self.input_shape, self.num_classes)


def split_indices(n: int, holdout: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded (keep, holdout) split of range(n)."""
    if not 0 <= holdout < n:
        raise ValueError(f"cannot hold out {holdout} of {n} examples")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[holdout:], perm[:holdout]
