"""Mini-batches drawn by shuffled index from tensors already on the device.

A `DataLoader(TensorDataset)` indexes and collates every example in Python;
indexing a whole batch at once is several times faster for the small models
of lottery-ticket work (docs/data.md has the measurement). The loader exposes
`sampler.set_epoch` like a DataLoader does, so Lightning tells it the epoch
and the batch order (and any augmentation) is a pure function of
(seed, epoch): a resumed round sees the same batches. A checkpoint taken
inside an epoch (training/round_checkpoint.py) also keeps the position in
that order and the augmentation generator's state (`state_dict`, which
Lightning saves for a loader that has one), so the resumed epoch draws
exactly the batches the interrupted one had left.

Under DDP `batch_size` stays the global batch: every rank draws the same
batch order and takes its contiguous share of each batch (`rank` of
`world_size`), so the ranks' averaged gradient is the one-process gradient
(exactly when `world_size` divides the batch) and a round takes as many
optimizer steps as in one process. A last batch smaller than `world_size`
would leave a rank nothing to train on, so then it is dropped. Augmentation
draws for the whole batch and each rank keeps its share, so every example is
transformed as in one process.
"""

from __future__ import annotations

import torch


class EpochShuffle:
    """Yields index batches; reshuffled per epoch from a fixed seed."""

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int, drop_last: bool = False, min_last: int = 1):
        self.n, self.batch_size, self.shuffle, self.seed, self.drop_last = n, batch_size, shuffle, seed, drop_last
        self.min_last = min_last  # a last batch with fewer examples is dropped
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        full, rest = divmod(self.n, self.batch_size)
        return full if self.drop_last or rest < self.min_last else full + 1

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

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool = False, seed: int = 0, drop_last: bool = False, augment=None,
                 rank: int = 0, world_size: int = 1):
        if len(x) != len(y):
            raise ValueError(f"{len(x)} inputs but {len(y)} targets")
        if not 0 <= rank < world_size <= batch_size:
            raise ValueError(f"rank {rank} of {world_size} cannot share batches of {batch_size}")
        self.x, self.y, self.augment, self.rank, self.world_size = x, y, augment, rank, world_size
        self.sampler = EpochShuffle(len(x), batch_size, shuffle, seed, drop_last, min_last=max(1, world_size))
        self.batch_sampler = None  # Lightning inspects these two like a DataLoader's
        self.position = 0  # batches drawn from the current pass (no prefetching: the step draws each)
        self.start = 0  # where the next pass begins: not 0 only after a mid-epoch restore
        self._generator = None
        self._generator_state = None

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self):
        device = self.x.device
        # one host-to-device copy of the epoch's order, not one per batch
        order = self.sampler.order().to(device, non_blocking=True)
        generator = None
        if self.augment is not None:
            generator = torch.Generator(device=device).manual_seed(self.sampler.epoch_seed())
            if self._generator_state is not None:
                generator.set_state(self._generator_state)
        self._generator, self._generator_state = generator, None
        size = self.sampler.batch_size
        first, self.start = self.start, 0
        self.position = first
        for start in range(first * size, len(self) * size, size):
            self.position += 1
            idx = order[start : start + size]
            mine = self._share(len(idx))
            if generator is None:
                idx = idx[mine]
                yield self.x.index_select(0, idx), self.y.index_select(0, idx)
            else:
                yield self.augment(self.x.index_select(0, idx), generator)[mine], self.y.index_select(0, idx[mine])

    def state_dict(self) -> dict:
        """Where the pass stands: its epoch, the batches drawn and the augmentation generator's state."""
        inside = 0 < self.position < len(self)  # a finished pass resumes at the next epoch's start
        state = {"epoch": self.sampler.epoch, "position": self.position if inside else 0}
        if inside and self._generator is not None:
            state["generator"] = self._generator.get_state()
        return state

    def load_state_dict(self, state: dict) -> None:
        """The next pass (Lightning restores mid-epoch, then sets the same epoch) continues from `state`."""
        self.sampler.set_epoch(state["epoch"])
        self.start = self.position = state["position"]
        self._generator_state = state.get("generator")

    def _share(self, n: int) -> slice:
        """This rank's contiguous part of a batch of n (sizes differ by at most one, as torch.tensor_split's)."""
        if self.world_size == 1:
            return slice(None)
        q, r = divmod(n, self.world_size)
        start = self.rank * q + min(self.rank, r)
        return slice(start, start + q + (self.rank < r))
