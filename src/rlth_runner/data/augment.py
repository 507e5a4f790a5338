"""Standard CIFAR augmentation, done on a whole batch on its device.

Random crop with zero padding plus a random horizontal flip, as one gather:
each example's rows and columns are offset (and the columns reversed for the
flipped ones), so no example is touched by Python.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def crop_flip(x: torch.Tensor, generator: torch.Generator, padding: int = 4) -> torch.Tensor:
    n, c, h, w = x.shape
    device = x.device
    padded = F.pad(x, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator, device=device)
    dx = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator, device=device)
    flip = torch.rand((n, 1), generator=generator, device=device) < 0.5
    cols = torch.arange(w, device=device).expand(n, w)
    cols = torch.where(flip, w - 1 - cols, cols) + dx
    rows = torch.arange(h, device=device).expand(n, h) + dy
    batch = torch.arange(n, device=device).view(n, 1, 1)
    # (n, h, w, c) after advanced indexing of dims 0, 2 and 3
    out = padded.permute(0, 2, 3, 1)[batch, rows.unsqueeze(2), cols.unsqueeze(1)]
    return out.permute(0, 3, 1, 2).contiguous()
