"""The run directory: every path and file format in it, and nothing else
joins a path inside one. A round counts as done once its metrics.json exists;
it is written last, so a run killed mid-round redoes only that round.

    <run>/init.pt                          weights at step 0 (what `reset` rewinds to)
    <run>/rewind.pt                        policy=rewind: {"step", "state"} captured in round 0
    <run>/rounds/round_<k>/start.pt        verify.enabled: the weights round k started from
    <run>/rounds/round_<k>/mask.pt         boolean masks by layer
    <run>/rounds/round_<k>/weights.pt      final weights, masks included as buffers
    <run>/rounds/round_<k>/arch.json       model config, data shape, hidden layers in order
    <run>/rounds/round_<k>/metrics.json    the round's record (record.py)
    <run>/tensorboard/round_<k>/           one TensorBoard run per round
    <run>/tensorboard/summary/             per-round scalars against the round index
    <run>/verification/metrics.json        verify.enabled: the retraining's record
    <run>/verification/tensorboard/round_<k>/
    <run>/summary.json

Writes are atomic: a uniquely named temporary file in the same folder,
flushed to disk, then renamed over the target, so a reader (or a resumed run)
never sees half a file.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from .record import RoundRecord


def _atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data) -> None:
    _atomic(Path(path), lambda f: f.write((json.dumps(data, indent=2) + "\n").encode()))


def save_tensors(path: Path, obj) -> None:
    _atomic(Path(path), lambda f: torch.save(obj, f))


def load_tensors(path: Path):
    return torch.load(path, map_location="cpu", weights_only=True)


def on_cpu(state: dict) -> dict:
    """A detached CPU copy of a state dict, safe to keep while training goes on."""
    return {k: v.detach().cpu().clone() for k, v in state.items()}


@dataclass(frozen=True)
class LoggerLocation:
    """Where a TensorBoardLogger writes: <save_dir>/<name>/<version>/."""

    save_dir: str
    name: str
    version: str


class RunDir:
    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    # ---------------------------------------------------------------- paths
    def round_dir(self, k: int) -> Path:
        return self.root / "rounds" / f"round_{k}"

    @property
    def summary_path(self) -> Path:
        return self.root / "summary.json"

    @property
    def tensorboard(self) -> Path:
        """What `tensorboard --logdir` shows: one run per round, and `summary`."""
        return self.root / "tensorboard"

    @property
    def summary_tensorboard(self) -> Path:
        return self.tensorboard / "summary"

    def logger(self, k: int, verification: bool = False) -> LoggerLocation:
        base = self.root / "verification" if verification else self.root
        return LoggerLocation(str(base), "tensorboard", f"round_{k}")

    def _tensorboard(self, k: int, verification: bool = False) -> Path:
        where = self.logger(k, verification)
        return Path(where.save_dir) / where.name / where.version

    # ---------------------------------------------------------------- initial and rewind weights
    def has_init(self) -> bool:
        return (self.root / "init.pt").exists()

    def save_init(self, state: dict) -> None:
        save_tensors(self.root / "init.pt", on_cpu(state))

    def load_init(self) -> dict:
        return load_tensors(self.root / "init.pt")

    def save_rewind(self, step: int, state: dict) -> None:
        save_tensors(self.root / "rewind.pt", {"step": step, "state": on_cpu(state)})

    def rewind_step(self) -> int | None:
        """The step rewind.pt was captured at; None without one."""
        path = self.root / "rewind.pt"
        return load_tensors(path)["step"] if path.exists() else None

    def load_rewind(self) -> dict:
        path = self.root / "rewind.pt"
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: round 0 was trained without policy=rewind; start a new run directory")
        return load_tensors(path)["state"]

    # ---------------------------------------------------------------- rounds
    def is_done(self, k: int) -> bool:
        return (self.round_dir(k) / "metrics.json").exists()

    def clear_partial(self, k: int) -> None:
        """Forget what an interrupted attempt at round k left behind."""
        shutil.rmtree(self._tensorboard(k), ignore_errors=True)

    def save_start(self, k: int, state: dict) -> None:
        save_tensors(self.round_dir(k) / "start.pt", on_cpu(state))

    def load_start(self, k: int) -> dict:
        path = self.round_dir(k) / "start.pt"
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing; rounds are only kept for verification when verify.enabled=true from the start of the run")
        return load_tensors(path)

    def save_round(self, k: int, state: dict, masks: dict, arch: dict, record: RoundRecord) -> None:
        d = self.round_dir(k)
        save_tensors(d / "mask.pt", masks)
        save_tensors(d / "weights.pt", {key: v.detach().cpu() for key, v in state.items()})
        write_json(d / "arch.json", arch)
        write_json(d / "metrics.json", record.to_dict())  # last: it marks the round done

    def load_record(self, k: int) -> RoundRecord:
        return RoundRecord.from_dict(json.loads((self.round_dir(k) / "metrics.json").read_text()))

    def load_weights(self, k: int) -> dict:
        return load_tensors(self.round_dir(k) / "weights.pt")

    def load_masks(self, k: int) -> dict:
        return load_tensors(self.round_dir(k) / "mask.pt")

    def load_arch(self, k: int) -> dict | None:
        """Round k's arch.json; None for a round saved before arch.json existed."""
        path = self.round_dir(k) / "arch.json"
        return json.loads(path.read_text()) if path.exists() else None

    # ---------------------------------------------------------------- verification and summary
    def load_verification(self) -> dict | None:
        path = self.root / "verification" / "metrics.json"
        return json.loads(path.read_text()) if path.exists() else None

    def start_verification(self, k: int) -> None:
        shutil.rmtree(self._tensorboard(k, verification=True).parent, ignore_errors=True)

    def save_verification(self, metrics: dict) -> None:
        write_json(self.root / "verification" / "metrics.json", metrics)

    def write_summary(self, data: dict) -> None:
        write_json(self.summary_path, data)
