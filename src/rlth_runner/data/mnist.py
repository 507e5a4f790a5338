"""MNIST and Fashion-MNIST: 28x28 grey images, 60,000 to train and 10,000 to test.

Read by torchvision from `<data_dir>/<MNIST|FashionMNIST>/raw/` and downloaded
there by torchvision when missing. Fashion-MNIST is first looked for in
Debian's dataset-fashion-mnist package (gzipped idx files), which is how a
machine without internet gets the real data.
"""

from __future__ import annotations

from pathlib import Path


from .bundle import DataBundle
from .fetch import ensure
from .idx import read_idx
from .images import image_bundle

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"


def _torchvision_class(name: str):
    from torchvision import datasets

    return {"mnist": datasets.MNIST, "fashion_mnist": datasets.FashionMNIST}[name]


def read_raw(name: str, data_dir: str | Path, download: bool = True, elsewhere: str = ""):
    """((train images, labels), (test images, labels)) as uint8 N x 1 x 28 x 28 and int64."""
    cls = _torchvision_class(name)
    raw_dir = Path(data_dir) / cls.__name__ / "raw"
    ensure(
        name,
        data_dir,
        present=lambda: all((raw_dir / f).is_file() for f in FILES),
        download=lambda: cls(str(data_dir), train=True, download=True),
        where=f"{raw_dir}/ (uncompressed idx files){elsewhere}",
        files=FILES,
        allow_download=download,
    )
    splits = [cls(str(data_dir), train=train, download=False) for train in (True, False)]
    return tuple((s.data.unsqueeze(1), s.targets.long()) for s in splits)


def read_idx_dir(directory: str | Path):
    """The same from a directory of gzipped idx files, as Debian ships them."""
    d = Path(directory)
    x_tr, y_tr, x_te, y_te = (read_idx(d / f"{f}.gz") for f in FILES)
    return (x_tr.unsqueeze(1), y_tr.long()), (x_te.unsqueeze(1), y_te.long())


def load_mnist(data_dir: str, val_size: int = 5000, split_seed: int = 0, download: bool = True, **_) -> DataBundle:
    train, test = read_raw("mnist", data_dir, download)
    return image_bundle("mnist", train, test, 10, val_size, split_seed)


def load_fashion_mnist(
    data_dir: str,
    val_size: int = 5000,
    split_seed: int = 0,
    download: bool = True,
    system_dir: str | None = DEBIAN_FASHION_MNIST,
    **_,
) -> DataBundle:
    if system_dir and all((Path(system_dir) / f"{f}.gz").is_file() for f in FILES):
        train, test = read_idx_dir(system_dir)
    else:
        elsewhere = f", or gzipped in {system_dir}/ (Debian: apt-get install dataset-fashion-mnist)" if system_dir else ""
        train, test = read_raw("fashion_mnist", data_dir, download, elsewhere)
    return image_bundle("fashion_mnist", train, test, 10, val_size, split_seed)
