"""Mini-batches drawn by shuffled index from tensors already on the device.

A `DataLoader(TensorDataset)` indexes and collates every example in Python;
indexing a whole batch at once is several times faster for the small models
of lottery-ticket work (docs/data.md has the measurement). The loader exposes
`sampler.set_epoch` like a DataLoader does, so Lightning tells it the epoch
and the batch order (and any augmentation) is a pure function of
(seed, epoch): a resumed round sees the same batches.
"""

from __future__ import annotations

import torch


class EpochShuffle:
    """Yields index batches; reshuffled per epoch from a fixed seed."""

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int, drop_last: bool = False):
        self.n, self.batch_size, self.shuffle, self.seed, self.drop_last = n, batch_size, shuffle, seed, drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        full, rest = divmod(self.n, self.batch_size)
        return full if self.drop_last or rest == 0 else full + 1

    def epoch_seed(self) -> int:
        return self.seed * 100_003 + self.epoch

    def order(self) -> torch.Tensor:
        if self.shuffle:
            return torch.randperm(self.n, generator=torch.Generator().manual_seed(self.epoch_seed()))
        return torch.arange(self.n)

    def __iter__(self):
        order = self.order()
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield order[start : start + self.batch_size]


class TensorBatches:
    """An iterable of (x, y) batches that Lightning accepts in place of a DataLoader.

    `augment(x, generator)`, if given, transforms each input batch on its
    device, with a generator seeded per epoch.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool = False, seed: int = 0, drop_last: bool = False, augment=None):
        if len(x) != len(y):
            raise ValueError(f"{len(x)} inputs but {len(y)} targets")
        self.x, self.y, self.augment = x, y, augment
        self.sampler = EpochShuffle(len(x), batch_size, shuffle, seed, drop_last)
        self.batch_sampler = None  # Lightning inspects these two like a DataLoader's

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self):
        device = self.x.device
        # one host-to-device copy of the epoch's order, not one per batch
        order = self.sampler.order().to(device, non_blocking=True)
        generator = None
        if self.augment is not None:
            generator = torch.Generator(device=device).manual_seed(self.sampler.epoch_seed())
        size = self.sampler.batch_size
        for start in range(0, len(self) * size, size):
            idx = order[start : start + size]
            x = self.x.index_select(0, idx)
            if generator is not None:
                x = self.augment(x, generator)
            yield x, self.y.index_select(0, idx)
