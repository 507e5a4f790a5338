"""Make a dataset's files present in the shared data directory.

Sweep jobs share `paths.data_dir`, so the check-then-download runs under a
file lock: the first job downloads, the others wait and then find the files.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from filelock import FileLock

from .errors import DataError

log = logging.getLogger("rlth_runner")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def ensure(
    name: str,
    data_dir: str | Path,
    present: Callable[[], bool],
    download: Callable[[], None],
    where: str,
    files: Sequence[str],
    allow_download: bool = True,
) -> None:
    """Return once `present()` holds, downloading under the lock if needed.

    Fails with one line naming the files expected and where they go.
    """
    if present():
        return
    data_dir = Path(data_dir)
    reason = "dataset.download=false"
    if allow_download:
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            with FileLock(str(data_dir / f".{name}.lock")):
                if not present():  # another job may have finished it while we waited
                    log.info("Downloading %s into %s", name, data_dir)
                    download()
        except Exception as err:  # noqa: BLE001 - any failure leads to the same advice
            reason = f"download failed: {_first_line(err)}"
    if not present():
        raise DataError(
            f"dataset {name} is not in {data_dir} and could not be fetched ({reason}). "
            f"Put {', '.join(files)} in {where}, or point RLTH_DATA_DIR (paths.data_dir) at a directory that has them."
        )
