"""Per-round validation curves from the TensorBoard event files of a run,
`<run>/tensorboard/round_<k>/events.out.tfevents.*`.

The files are read as TFRecords here, and only the records that name a wanted
tag are parsed: most of a file is per-step training scalars. TensorBoard's own
readers (EventAccumulator, EventFileLoader) go through every record in Python:
0.45 s for one 20,000-step round, against about 10 ms here, which is minutes
against seconds on a sweep of a hundred runs.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

from ..storage.layout import RunLayout, natural_order
from .runs import Run

# Which curve a round shows: the validation grid (train.eval_every_n_steps) where
# the run has one, it is finer and starts at step 0; else Lightning's once-per-epoch
# validation.
GRID = {"acc": "early_stop/val_acc", "loss": "early_stop/val_loss"}
EPOCH = {"acc": "val/acc", "loss": "val/loss"}
_FLOAT_TYPES = {1: "<f", 2: "<d"}  # tensorflow DataType: DT_FLOAT, DT_DOUBLE


@dataclass
class RoundCurves:
    """One run's validation curves of one round: step -> value."""

    acc: dict[int, float]
    loss: dict[int, float]
    grid: bool  # from the validation grid (else once per epoch)


def read_scalars(directory: Path, tags: set[str]) -> dict[str, dict[int, float]]:
    """tag -> {step: value} for `tags`, from every event file in `directory`; a later
    file's value of a step replaces an earlier one's (a resumed round)."""
    from google.protobuf.message import DecodeError
    from tensorboard.compat.proto import event_pb2

    out: dict[str, dict[int, float]] = {tag: {} for tag in tags}
    wanted = re.compile(b"|".join(re.escape(tag.encode()) for tag in sorted(tags)))
    for path in sorted(directory.glob("events.out.tfevents.*"), key=lambda p: natural_order(p.name)):
        data = path.read_bytes()
        for start, end in _records(data):
            if wanted.search(data, start, end) is None:
                continue
            try:
                event = event_pb2.Event.FromString(data[start:end])
            except DecodeError:
                continue  # a damaged record costs its point, not the report
            for value in event.summary.value:
                if value.tag in out and (number := _number(value)) is not None:
                    out[value.tag][event.step] = number
    return out


_LENGTH = struct.Struct("<Q")


def _records(data: bytes):
    """Where each payload of a TFRecord file lies: length (8 bytes), its CRC (4), payload,
    its CRC (4). A record cut short (a file still being written, or copied mid-write) ends the file."""
    offset, size = 0, len(data)
    while offset + 12 <= size:
        start = offset + 12
        end = start + _LENGTH.unpack_from(data, offset)[0]
        if end + 4 > size:
            return
        yield start, end
        offset = end + 4


def _number(value) -> float | None:
    kind = value.WhichOneof("value")
    if kind == "simple_value":
        return value.simple_value
    if kind == "tensor":
        tensor = value.tensor
        if tensor.float_val:
            return tensor.float_val[0]
        if tensor.double_val:
            return tensor.double_val[0]
        if tensor.tensor_content and tensor.dtype in _FLOAT_TYPES:
            return struct.unpack_from(_FLOAT_TYPES[tensor.dtype], tensor.tensor_content)[0]
    return None


def round_curves(run: Run, k: int) -> RoundCurves | None:
    directory = RunLayout(run.path).tensorboard_dir(k)
    if not directory.is_dir():
        return None
    scalars = read_scalars(directory, {*GRID.values(), *EPOCH.values()})
    grid = bool(scalars[GRID["acc"]] or scalars[GRID["loss"]])
    tags = GRID if grid else EPOCH
    curves = RoundCurves(scalars[tags["acc"]], scalars[tags["loss"]], grid)
    return curves if curves.acc or curves.loss else None


def load_curves(runs: list[Run]) -> dict[tuple[Path, int], RoundCurves]:
    """(run directory, round) -> its curves, for every round of every run that has them."""
    out = {}
    for run in runs:
        for record in run.records:
            if (curves := round_curves(run, record.round)) is not None:
                out[run.path, record.round] = curves
    return out
