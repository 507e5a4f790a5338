"""CIFAR-10: 32x32 colour images, 50,000 to train and 10,000 to test.

Read by torchvision from `<data_dir>/cifar-10-batches-py/` (the pickled
"python version" batches) and downloaded there by torchvision when missing.
torchvision checks each batch file's md5 sum, so a truncated or corrupted file
counts as missing.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .bundle import DataBundle
from .fetch import ensure
from .images import image_bundle


def _files_intact(cls, root: Path) -> bool:
    from torchvision.datasets import cifar

    folder = root / cls.base_folder
    return all(cifar.check_integrity(str(folder / f), md5) for f, md5 in [*cls.train_list, *cls.test_list, (cls.meta["filename"], cls.meta["md5"])])


def read_raw(data_dir: str | Path, download: bool = True):
    """((train images, labels), (test images, labels)) as uint8 N x 3 x 32 x 32 and int64."""
    from torchvision.datasets import CIFAR10

    root = Path(data_dir)
    names = [f for f, _ in CIFAR10.train_list + CIFAR10.test_list] + [CIFAR10.meta["filename"]]
    ensure(
        "cifar10",
        root,
        present=lambda: _files_intact(CIFAR10, root),
        download=lambda: CIFAR10(str(root), train=True, download=True),
        where=f"{root / CIFAR10.base_folder}/ (unpacked from {CIFAR10.filename}; torchvision checks their md5 sums)",
        files=names,
        allow_download=download,
    )
    splits = [CIFAR10(str(root), train=train, download=False) for train in (True, False)]
    return tuple((torch.from_numpy(s.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(s.targets)) for s in splits)


def load_cifar10(
    data_dir: str, val_size: int = 5000, split_seed: int = 0, download: bool = True, augment: bool = False, **_
) -> DataBundle:
    train, test = read_raw(data_dir, download)
    return image_bundle("cifar10", train, test, 10, val_size, split_seed, augment=augment)
