"""The idx format of MNIST and Fashion-MNIST, plain or gzipped.

torchvision's reader only takes uncompressed files, while Debian's
dataset-fashion-mnist ships the gzipped originals; this reads both.
Header: two zero bytes, a type code, the number of dimensions, then each
dimension as a big-endian uint32, then the data, big-endian.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> torch.Tensor:
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPES:
        raise ValueError(f"{path} is not an idx file")
    ndim = raw[3]
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_TYPES[raw[2]])
    offset = 4 + 4 * ndim
    if len(raw) - offset != dtype.itemsize * int(np.prod(shape)):
        raise ValueError(f"{path}: header says {shape}, but the file holds {len(raw) - offset} data bytes")
    data = np.frombuffer(raw, dtype=dtype, offset=offset).reshape(shape)
    return torch.from_numpy(data.astype(dtype.newbyteorder("="), copy=True))
