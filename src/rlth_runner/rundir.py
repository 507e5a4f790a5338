"""The run directory: every path and file format in it, and nothing else
joins a path inside one. A round counts as done once its metrics.json exists;
it is written last, so a run killed mid-round redoes only that round.

    <run>/init.pt                          weights at step 0 (what `reset` rewinds to)
    <run>/rewind.pt                        policy=rewind: {"step", "state"} captured in round 0
    <run>/rounds/round_<k>/start.pt        verify.enabled: the weights round k started from
    <run>/rounds/round_<k>/checkpoint.ckpt while round k trains: its last checkpoint (Lightning's format)
    <run>/rounds/round_<k>/mask.pt         boolean masks by layer
    <run>/rounds/round_<k>/weights.pt      final weights, masks included as buffers
    <run>/rounds/round_<k>/arch.json       model config, data shape, hidden layers in order
    <run>/rounds/round_<k>/metrics.json    the round's record (record.py)
    <run>/rounds/round_<k>/instability.json analysis.instability: the error path between two copies, its barrier
    <run>/tensorboard/round_<k>/           one TensorBoard run per round
    <run>/tensorboard/summary/             per-round scalars against the round index
    <run>/tensorboard/hparams/             the HPARAMS tab's row: settings and the last round's results
    <run>/verification/metrics.json        verify.enabled: the retraining's record
    <run>/verification/tensorboard/round_<k>/
    <run>/instability/tensorboard/round_<k>/   analysis.instability: the second copy's curves
    <run>/branches/<kind>/                 a control trained off this run's rounds (branches/): a run directory
    <run>/.hydra/config.yaml               the composed config (Hydra's copy; a branch's: the settled one)
    <run>/summary.json
    <run>/fingerprint.json                 the settings that decide the results (config/fingerprint.py)
    <run>/checksums.json                   sha256 and size of every artifact above, as written
    <run>/.lock                            held (flock) by the process running in the directory
    <run>/damaged/                         artifacts found damaged on resume, moved aside, never deleted
    <run>/export/round_<k>/                rlth-export's default output for round k (TicketFiles)

Writes are atomic: a uniquely named temporary file in the same folder,
flushed to disk, then renamed over the target, so a reader (or a resumed run)
never sees half a file. Each artifact's checksum is recorded once it is in
place; a resume checks what it uses against them (`damage`).
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import shutil
import socket
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .record import RoundRecord


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp makes files private (0600); artifacts get the mode a plain open() would give them.
FILE_MODE = 0o666 & ~_umask()


def _atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
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


def write_bytes(path: Path, data: bytes) -> None:
    _atomic(Path(path), lambda f: f.write(data))


def save_tensors(path: Path, obj) -> None:
    import torch  # here, so that reading a run's summary (a sweep's tally) needs no torch

    _atomic(Path(path), lambda f: torch.save(obj, f))


def load_tensors(path: Path):
    import torch

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


@dataclass(frozen=True)
class TicketFiles:
    """What `rlth-export` writes into its output folder (docs/export.md has the formats)."""

    root: Path

    @property
    def tensors(self) -> Path:
        return self.root / "ticket.safetensors"  # trained weights, masks, initial (and rewind) weights

    @property
    def info(self) -> Path:
        return self.root / "ticket.json"  # architecture, fingerprint, record, versions, compaction, benchmark

    @property
    def compact(self) -> Path:
        return self.root / "compact.safetensors"  # the compacted network's weights

    @property
    def csr(self) -> Path:
        return self.root / "compact_csr.safetensors"  # the same with every linear weight in CSR form

    @property
    def onnx(self) -> Path:
        return self.root / "compact.onnx"


class DamagedArtifact(RuntimeError):
    """An artifact a run needs is missing or not what was written; it was moved aside."""


class RunDirBusy(RuntimeError):
    """Another live process holds the run directory's lock."""


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _NoWriter:
    """A SummaryWriter's methods, doing nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def _writes(method):
    """A method that changes the directory: a no-op where this process is not its writer."""

    @functools.wraps(method)
    def write(self, *args, **kwargs):
        return method(self, *args, **kwargs) if self.writer else None

    return write


class RunDir:
    """A run directory. Under DDP every rank reads it and only rank 0 (`writer`)
    changes it: the other ranks' writes, moves and removals do nothing, and
    they take no lock (rank 0 holds it for the run)."""

    def __init__(self, root: Path | str, writer: bool = True):
        self.root, self.writer = Path(root), writer
        if writer:
            self.root.mkdir(parents=True, exist_ok=True)

    # ---------------------------------------------------------------- lock
    @contextmanager
    def lock(self):
        """Hold the directory for this process. The kernel releases an flock when
        its holder dies, so a lock left by a killed run is simply taken over."""
        if not self.writer:
            yield
            return
        path = self.root / ".lock"
        with open(path, "a+") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.seek(0)
                holder = f.read().strip() or "another process"
                raise RunDirBusy(f"{self.root} is in use by {holder}; wait for it to finish, or use another hydra.run.dir") from None
            f.seek(0)
            f.truncate()
            f.write(f"PID {os.getpid()} on host {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
            f.flush()
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    # ---------------------------------------------------------------- integrity
    def _ledger(self) -> dict:
        try:
            return json.loads((self.root / "checksums.json").read_text())
        except (FileNotFoundError, ValueError):
            return {}

    @_writes
    def _written(self, *paths: Path) -> None:
        ledger = self._ledger()
        for path in paths:
            ledger[str(path.relative_to(self.root))] = {"sha256": sha256(path), "bytes": path.stat().st_size}
        write_json(self.root / "checksums.json", ledger)

    @_writes
    def _forget(self, path: Path) -> None:
        ledger = self._ledger()
        if ledger.pop(str(path.relative_to(self.root)), None) is not None:
            write_json(self.root / "checksums.json", ledger)

    def damage(self, path: Path, ledger: dict | None = None) -> str | None:
        """Why `path` cannot be trusted (missing, or not what was written), or None.
        A file without a recorded checksum (older runs, or one killed before it
        was recorded) must at least load."""
        if not path.exists():
            return f"{path.relative_to(self.root)} is missing"
        entry = (self._ledger() if ledger is None else ledger).get(str(path.relative_to(self.root)))
        if entry is None:
            return self._unreadable(path)
        size = path.stat().st_size
        if size != entry["bytes"]:
            return f"{path.relative_to(self.root)} has {size:,} bytes, not the {entry['bytes']:,} written"
        if sha256(path) != entry["sha256"]:
            return f"{path.relative_to(self.root)} does not match the checksum recorded when it was written"
        return None

    @_writes
    def move_aside(self, path: Path) -> Path:
        """Move a damaged artifact (file or round folder) to damaged/, keeping it."""
        target = self.root / "damaged" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}" / path.relative_to(self.root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), str(target))
        return target

    # ---------------------------------------------------------------- fingerprint
    def load_fingerprint(self) -> dict | None:
        path = self.root / "fingerprint.json"
        return json.loads(path.read_text())["settings"] if path.exists() else None

    @_writes
    def save_fingerprint(self, settings: dict, digest: str) -> None:
        write_json(self.root / "fingerprint.json", {"digest": digest, "settings": settings})

    def has_run(self) -> bool:
        """Whether an earlier invocation left results here."""
        return self.has_init() or self.summary_path.exists() or (self.root / "rounds").exists()

    # ---------------------------------------------------------------- paths
    def round_dir(self, k: int) -> Path:
        return self.root / "rounds" / f"round_{k}"

    @property
    def config_path(self) -> Path:
        """The composed config the run was made with (Hydra's copy from its first invocation)."""
        return self.root / ".hydra" / "config.yaml"

    @property
    def branches(self) -> Path:
        return self.root / "branches"

    def branch_dir(self, name: str) -> Path:
        """A branch (branches/) of this run: a run directory of its own."""
        return self.branches / name

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

    @property
    def hparams_tensorboard(self) -> Path:
        return self.tensorboard / "hparams"

    def summary_writer(self):
        """A TensorBoard writer for the per-round scalars (`summary`), begun afresh: they are
        rebuilt from the round records on every invocation, so a resumed run never
        duplicates or loses a point. Where this process does not write, it writes nothing."""
        if not self.writer:
            return _NoWriter()
        from torch.utils.tensorboard import SummaryWriter

        shutil.rmtree(self.summary_tensorboard, ignore_errors=True)
        return SummaryWriter(str(self.summary_tensorboard))

    def logger(self, k: int, extra: str | None = None) -> LoggerLocation:
        """Where round k's fit logs; `extra` ("verification", "instability"): a fit that is
        not the round's own, kept out of tensorboard/ so that only the rounds overlay there."""
        base = self.root / extra if extra else self.root
        return LoggerLocation(str(base), "tensorboard", f"round_{k}")

    def _tensorboard(self, k: int, extra: str | None = None) -> Path:
        where = self.logger(k, extra)
        return Path(where.save_dir) / where.name / where.version

    # ---------------------------------------------------------------- initial and rewind weights
    @property
    def init_path(self) -> Path:
        return self.root / "init.pt"

    def has_init(self) -> bool:
        return (self.root / "init.pt").exists()

    @_writes
    def save_init(self, state: dict) -> None:
        save_tensors(self.root / "init.pt", on_cpu(state))
        self._written(self.root / "init.pt")

    def init_damage(self) -> str | None:
        return self.damage(self.init_path)

    def load_init(self) -> dict:
        return load_tensors(self.root / "init.pt")

    @_writes
    def save_rewind(self, step: int, state: dict) -> None:
        save_tensors(self.root / "rewind.pt", {"step": step, "state": on_cpu(state)})
        self._written(self.root / "rewind.pt")

    def rewind_step(self) -> int | None:
        """The step rewind.pt was captured at; None without one, or with a damaged one
        (which is moved aside, so that round 0 captures it again)."""
        path = self.root / "rewind.pt"
        if not path.exists():
            return None
        if problem := self.damage(path):
            self.move_aside(path)
            raise DamagedArtifact(problem)
        return load_tensors(path)["step"]

    def rewind_damage(self) -> str | None:
        """Why rewind.pt cannot be trusted; None when it is intact or there is none."""
        path = self.root / "rewind.pt"
        return self.damage(path) if path.exists() else None

    def load_rewind(self) -> dict:
        path = self.root / "rewind.pt"
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: round 0 was trained without policy=rewind; start a new run directory")
        return load_tensors(path)["state"]

    # ---------------------------------------------------------------- rounds
    def is_done(self, k: int) -> bool:
        return (self.round_dir(k) / "metrics.json").exists()

    def finished_rounds(self) -> list[int]:
        """The rounds whose metrics.json exists, in order."""
        found = (int(d.name.removeprefix("round_")) for d in (self.root / "rounds").glob("round_*") if d.name[6:].isdigit())
        return sorted(k for k in found if self.is_done(k))

    def export_dir(self, k: int) -> Path:
        """Where `rlth-export` writes round k unless told otherwise."""
        return self.root / "export" / f"round_{k}"

    @_writes
    def clear_partial(self, k: int) -> None:
        """Forget what an interrupted attempt at round k left behind."""
        shutil.rmtree(self._tensorboard(k), ignore_errors=True)
        (self.round_dir(k) / "checkpoint.ckpt").unlink(missing_ok=True)

    @_writes
    def save_checkpoint(self, k: int, write) -> None:
        """Round k's checkpoint, written by `write(path)` (Trainer.save_checkpoint) and renamed into place."""
        path = self.round_dir(k) / "checkpoint.ckpt"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".checkpoint.{os.getpid()}.tmp")
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        # The previous checkpoint's checksum goes first: killed between the rename
        # and the new entry, the new file has none and is checked by loading, not
        # refused for not matching the old one.
        self._forget(path)
        os.replace(tmp, path)
        self._written(path)

    def checkpoint(self, k: int) -> tuple[Path, int] | None:
        """Round k's checkpoint and its optimizer step, if there is an intact one;
        a damaged one is moved aside (DamagedArtifact)."""
        path = self.round_dir(k) / "checkpoint.ckpt"
        if not path.exists():
            return None
        try:
            if problem := self.damage(path):
                raise DamagedArtifact(problem)
            return path, int(load_tensors(path)["global_step"])
        except Exception as err:  # noqa: BLE001 (unreadable is damaged)
            self.move_aside(path)
            raise err if isinstance(err, DamagedArtifact) else DamagedArtifact(f"{path.relative_to(self.root)} cannot be read") from None

    @_writes
    def drop_checkpoint(self, k: int) -> None:
        (self.round_dir(k) / "checkpoint.ckpt").unlink(missing_ok=True)

    @_writes
    def save_start(self, k: int, state: dict) -> None:
        save_tensors(self.round_dir(k) / "start.pt", on_cpu(state))
        self._written(self.round_dir(k) / "start.pt")

    def load_start(self, k: int) -> dict:
        path = self.round_dir(k) / "start.pt"
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing; rounds are only kept for verification when verify.enabled=true from the start of the run")
        return load_tensors(path)

    @_writes
    def start_instability(self, k: int) -> None:
        shutil.rmtree(self._tensorboard(k, "instability"), ignore_errors=True)

    def load_instability(self, k: int) -> dict | None:
        path = self.round_dir(k) / "instability.json"
        return json.loads(path.read_text()) if path.exists() else None

    @_writes
    def save_round(self, k: int, state: dict, masks: dict, arch: dict, record: RoundRecord, instability: dict | None = None) -> None:
        d = self.round_dir(k)
        if instability is not None:
            write_json(d / "instability.json", instability)
            self._written(d / "instability.json")
        save_tensors(d / "mask.pt", masks)
        save_tensors(d / "weights.pt", {key: v.detach().cpu() for key, v in state.items()})
        write_json(d / "arch.json", arch)
        self._written(d / "mask.pt", d / "weights.pt", d / "arch.json")
        write_json(d / "metrics.json", record.to_dict())  # last: it marks the round done
        self._written(d / "metrics.json")

    def round_damage(self, k: int) -> str | None:
        """Why finished round k cannot be trusted, or None: each of its files
        must be as written and readable."""
        d, ledger = self.round_dir(k), self._ledger()
        for name in ("metrics.json", "arch.json", "mask.pt", "weights.pt"):
            if problem := self.damage(d / name, ledger):
                return problem
        return None

    def _unreadable(self, path: Path) -> str | None:
        try:
            if path.suffix == ".json":
                data = json.loads(path.read_text())
                if path.name == "metrics.json":
                    RoundRecord.from_dict(data)
            else:
                load_tensors(path)
        except Exception as err:  # noqa: BLE001 (any failure to read means the same: damaged)
            return f"{path.relative_to(self.root)} cannot be read ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
        return None

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

    @_writes
    def start_verification(self, k: int) -> None:
        shutil.rmtree(self._tensorboard(k, "verification").parent, ignore_errors=True)

    @_writes
    def save_verification(self, metrics: dict) -> None:
        write_json(self.root / "verification" / "metrics.json", metrics)

    def load_summary(self) -> dict | None:
        """summary.json as written, or None if there is none or it cannot be read."""
        try:
            return json.loads(self.summary_path.read_text())
        except (FileNotFoundError, ValueError):
            return None

    @_writes
    def write_summary(self, data: dict) -> None:
        write_json(self.summary_path, data)


def job_summaries(sweep_dir: Path | str, since_ns: int = 0) -> dict[str, dict | None]:
    """A sweep's jobs whose summary.json was written at or after `since_ns`:
    job directory name -> its summary (None if it cannot be read)."""
    out = {}
    for job in sorted(Path(sweep_dir).iterdir()) if Path(sweep_dir).is_dir() else ():
        path = job / "summary.json"
        try:
            if job.is_dir() and path.stat().st_mtime_ns >= since_ns:
                out[job.name] = json.loads(path.read_text())
        except FileNotFoundError:
            continue
        except (OSError, ValueError):
            out[job.name] = None
    return out
