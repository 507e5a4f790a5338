"""One process at a time in a run directory: an flock on its `.lock`, which
names the holder for the next process that finds it taken."""

from __future__ import annotations

import fcntl
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path


class RunDirBusy(RuntimeError):
    """Another live process holds the run directory's lock."""


@contextmanager
def hold(lock_path: Path, root: Path):
    """Hold the run directory `root` for this process. The kernel releases an flock
    when its holder dies, so a lock left by a killed run is simply taken over."""
    with open(lock_path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise RunDirBusy(f"{root} is in use by {holder}; wait for it to finish, or use another hydra.run.dir") from None
        f.seek(0)
        f.truncate()
        f.write(f"PID {os.getpid()} on host {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
