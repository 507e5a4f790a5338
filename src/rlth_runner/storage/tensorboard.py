"""The TensorBoard writer of a run's per-round scalars (tensorboard/summary).

Lightning's TensorBoardLogger writes each fit's curves (training/trainer.py);
this writer holds the scalars against the round index, which no fit sees.
"""

from __future__ import annotations

import shutil
from pathlib import Path


class NoWriter:
    """A SummaryWriter's methods, doing nothing: where a process does not write (DDP ranks but 0)."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def summary_writer(log_dir: Path, writes: bool):
    """A writer begun afresh: the per-round scalars are rebuilt from the round records
    on every invocation, so a resumed run never duplicates or loses a point."""
    if not writes:
        return NoWriter()
    from torch.utils.tensorboard import SummaryWriter

    shutil.rmtree(log_dir, ignore_errors=True)
    return SummaryWriter(str(log_dir))
