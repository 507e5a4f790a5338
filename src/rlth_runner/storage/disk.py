"""A write the file system refuses for want of room (ENOSPC, EDQUOT) or because
it is read-only (EROFS). Wherever it happens (our own atomic writes, Lightning's
or TensorBoard's files, Hydra's copies of the config), rlth-run reports it as one
line naming the path, the bytes it needed and the bytes free, and exits 2: the
remedy is the user's (free space, then run the same command again), and every
finished round is on disk. Torch-free."""

from __future__ import annotations

import errno
import io
import logging
import os
import shutil
import sys
import threading
from pathlib import Path

REFUSALS = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "the disk quota is exceeded",
            errno.EROFS: "the file system is read-only"}
STATUS = "disk full"  # summary.json's error starts with it: `status: failed`, `error: disk full: ...`


class DiskFull(OSError):
    """A refused write of `needed` bytes (None: not known) to `path`."""

    def __init__(self, code: int, path: Path | str, needed: int | None):
        super().__init__(code, os.strerror(code), str(path))
        self.needed = needed


class _Counter:
    """A file that only counts what is written to it."""

    def __init__(self):
        self.n = 0

    def write(self, data) -> int:
        self.n += len(data)
        return len(data)

    def flush(self) -> None:
        pass


def size_of(write) -> int | None:
    """How many bytes `write(file)` writes, measured without a disk; None if it cannot say."""
    counter = _Counter()
    try:
        write(counter)
    except Exception:  # noqa: BLE001 - a writer that needs a real file: the size stays unknown
        return None
    return counter.n


def refusal(err: BaseException | None) -> OSError | None:
    """The disk's refusal behind `err` (itself, or its cause or context, as torch.save wraps it), or None."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in REFUSALS:
            return err
        err = err.__cause__ or err.__context__
    return None


def _written(err: OSError) -> str | None:
    """The file a refused write was writing, when the error does not name it: in the innermost frame that
    names one, an argument (`filename`, `path`), the writer (fsspec's, TensorBoard's: `self`) or an open file."""
    tb, found = err.__traceback__, None
    while tb is not None:
        names = tb.tb_frame.f_locals
        holder = names.get("self")
        files = (getattr(v, "name", None) for v in names.values() if isinstance(v, io.IOBase))  # Hydra's `with open(...) as file`
        for value in (names.get("filename"), names.get("path"), *(getattr(holder, a, None) for a in ("path", "filename", "name")), *files):
            value = os.fsdecode(value) if isinstance(value, (str, bytes, Path)) else None
            if value and os.path.isabs(value):
                found = value
                break
        tb = tb.tb_next
    return found


def quiet_refusals() -> None:
    """A refused write in a writer thread (TensorBoard's) or a log handler (rlth.log) prints no traceback:
    the run's own thread meets the same disk at its next write and reports it in one line."""
    if getattr(threading.excepthook, "quiet_refusals", False):
        return  # once per process: rlth-run's main may run more than once in one (the tests)
    thread_hook, handle_error = threading.excepthook, logging.Handler.handleError

    def in_thread(args) -> None:
        if refusal(args.exc_value) is None:
            thread_hook(args)

    def in_handler(self, record) -> None:
        if refusal(sys.exc_info()[1]) is None:
            handle_error(self, record)

    in_thread.quiet_refusals = True
    threading.excepthook, logging.Handler.handleError = in_thread, in_handler


def _mount(path: Path) -> Path:
    while not os.path.ismount(path) and path != path.parent:
        path = path.parent
    return path


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _bytes(n: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n}"  # unreachable


def line(err: BaseException, where: Path | str | None = None) -> str | None:
    """`disk full: cannot write <path> (...): it needs N, M free on <mount>; ...` for a refused write behind
    `err`, None for any other error. `where`: the path to name when the error does not (the run directory)."""
    refused = refusal(err)
    if refused is None:
        return None
    path = Path(os.path.abspath(refused.filename or _written(refused) or where or "."))
    existing = _existing(path)
    try:
        free = shutil.disk_usage(existing).free
    except OSError:
        free = None
    needed = getattr(refused, "needed", None)
    head = f"{STATUS}: cannot write {path} ({REFUSALS[refused.errno]})"
    if refused.errno == errno.EROFS:
        return f"{head}; make {_mount(existing)} writable or choose another directory, then run the same command again to continue"
    room = f"{_bytes(free)} free on {_mount(existing)}" if free is not None else "the free space unknown"
    need = f"it needs {_bytes(needed)}, " if needed is not None else "it needs more than the "
    return f"{head}: {need}{room}; free space, then run the same command again to continue"
