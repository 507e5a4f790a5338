"""From raw uint8 images to a normalised, split, in-memory DataBundle."""

from __future__ import annotations

import torch

from .augment import crop_flip
from .bundle import DataBundle, hold_out


def image_bundle(
    name: str,
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    num_classes: int,
    val_size: int,
    split_seed: int,
    augment: bool = False,
) -> DataBundle:
    """`train` and `test` are (uint8 images N x C x H x W, int labels).

    Each channel is standardised with the mean and standard deviation of the
    training split alone, so nothing about the held-out examples leaks in.
    """
    (x_tr, y_tr), (x_val, y_val) = hold_out(name, train[0], train[1].long(), val_size, split_seed)
    x_tr = x_tr.float().div_(255)
    mean = x_tr.mean(dim=(0, 2, 3), keepdim=True)
    std = x_tr.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    norm = lambda x: (x.float().div_(255) - mean).div_(std)  # noqa: E731
    x_tr = (x_tr - mean).div_(std)
    return DataBundle(
        name,
        (x_tr.contiguous(), y_tr),
        (norm(x_val).contiguous(), y_val),
        (norm(test[0]).contiguous(), test[1].long()),
        tuple(train[0].shape[1:]),
        num_classes,
        augment=crop_flip if augment else None,
    )
