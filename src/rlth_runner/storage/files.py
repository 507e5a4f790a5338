"""Writing a run directory's files so that a reader never sees half of one.

A write goes to a uniquely named temporary file in the same folder, is
flushed to disk, then renamed over the target: a reader (or a resumed run)
sees the old file or the new one, never a mix. Torch is imported only to
save or load tensors, so that reading a run's summary (a sweep's tally, the
report) needs none.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from . import disk


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp makes files private (0600); artifacts get the mode a plain open() would give them.
FILE_MODE = 0o666 & ~_umask()


def atomic_write(path: Path, write) -> None:
    """Write `path` through `write(file)` and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if (refused := disk.refusal(err)) is not None:  # named with the path and the size, for rlth-run's one line
            raise disk.DiskFull(refused.errno, path, disk.size_of(write)) from err
        raise


def write_json(path: Path, data) -> None:
    atomic_write(Path(path), lambda f: f.write((json.dumps(data, indent=2) + "\n").encode()))


def write_bytes(path: Path, data: bytes) -> None:
    atomic_write(Path(path), lambda f: f.write(data))


def read_json(path: Path):
    return json.loads(Path(path).read_text())


def save_tensors(path: Path, obj) -> None:
    import torch

    atomic_write(Path(path), lambda f: torch.save(obj, f))


def load_tensors(path: Path):
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def on_cpu(state: dict) -> dict:
    """A detached CPU copy of a state dict, safe to keep while training goes on."""
    return {k: v.detach().cpu().clone() for k, v in state.items()}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
