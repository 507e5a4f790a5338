"""A run directory as one process sees it: whether this process writes it,
its lock, its ledger of checksums and its per-round TensorBoard writer.

Under DDP every rank reads the directory and only rank 0 (`writer`) changes
it: the other ranks' writes, moves and removals do nothing (`writes`), and
they take no lock (rank 0 holds it for the run).
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from pathlib import Path

from .layout import RunLayout
from .ledger import Ledger
from .lock import hold
from .tensorboard import summary_writer


def writes(method):
    """A method that changes the directory: a no-op where this process is not its writer."""

    @functools.wraps(method)
    def write(self, *args, **kwargs):
        return method(self, *args, **kwargs) if self.writer else None

    return write


class Directory(RunLayout):
    def __init__(self, root: Path | str, writer: bool = True):
        super().__init__(root)
        self.writer, self.ledger = writer, Ledger(self)
        if writer:
            self.root.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def lock(self):
        """Hold the directory for this process (lock.py); the other DDP ranks hold nothing."""
        if not self.writer:
            yield
            return
        with hold(self.lock_path, self.root):
            yield

    def summary_writer(self):
        """The per-round scalars' TensorBoard writer; one that writes nothing where this process does not write."""
        return summary_writer(self.summary_tensorboard, self.writer)

    @writes
    def _written(self, *paths: Path) -> None:
        self.ledger.record(*paths)

    def damage(self, path: Path) -> str | None:
        return self.ledger.damage(path)

    @writes
    def move_aside(self, path: Path) -> Path:
        return self.ledger.move_aside(path)
