"""What the models share: the input check that catches a dataset/model mismatch."""

from __future__ import annotations

import torch.nn.functional as F


class ModelInputError(ValueError):
    """The model cannot take the dataset's input; raised by the constructor."""


def image_shape(input_shape, min_size: int, why: str) -> tuple[int, int, int]:
    """(C, H, W) from `input_shape`, or ModelInputError naming the requirement."""
    shape = tuple(input_shape)
    if len(shape) != 3:
        raise ModelInputError(f"needs images (channels, height, width) but the input shape is {shape}")
    if min(shape[1:]) < min_size:
        raise ModelInputError(f"needs images of at least {min_size}x{min_size} pixels ({why}) but the input shape is {shape}")
    return shape


def dropout(x, p: float, training: bool):
    """Dropout after a hidden activation (`model.dropout`). Functional, so a network
    with p = 0 has no extra module, parameter or state_dict key: exactly the network
    before dropout existed. Off in eval mode, where every evaluation runs."""
    return F.dropout(x, p, training) if p else x
