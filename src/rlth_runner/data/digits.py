"""scikit-learn's 8x8 digits: embedded, so the default run needs no network."""

from __future__ import annotations

import torch

from .bundle import DataBundle, check_holdout, split_indices


def load_digits(val_size: int = 180, test_size: int = 360, split_seed: int = 0, **_) -> DataBundle:
    from sklearn.datasets import load_digits as sk_digits

    raw = sk_digits()
    x = torch.tensor(raw.data, dtype=torch.float32).view(-1, 1, 8, 8) / 16.0
    x = (x - x.mean()) / x.std()
    y = torch.tensor(raw.target, dtype=torch.long)
    check_holdout("dataset.test_size", test_size, len(x), "digits", minimum=1, of="examples")
    rest, test = split_indices(len(x), test_size, split_seed)
    check_holdout("dataset.val_size", val_size, len(rest), "digits")
    train_idx, val_idx = split_indices(len(rest), val_size, split_seed + 1)
    train, val = rest[train_idx], rest[val_idx]
    return DataBundle("digits", (x[train], y[train]), (x[val], y[val]), (x[test], y[test]), (1, 8, 8), 10)
