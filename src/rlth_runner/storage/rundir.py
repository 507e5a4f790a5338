"""A run directory's artifacts, loaded and saved one by one. The paths are
layout.py's; every write is atomic (files.py), is a no-op where this process
does not write (directory.py: DDP ranks but 0) and, once in place, is
recorded in the ledger (ledger.py), which a resume checks what it uses against.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ..record import RoundRecord
from .directory import Directory, writes
from .files import load_tensors, on_cpu, save_tensors, write_json
from .ledger import DamagedArtifact


def _read_json(path: Path):
    return json.loads(path.read_text()) if path.exists() else None


class RunDir(Directory):
    """Each artifact of a run: any process loads it, the writer saves it."""

    # ---------------------------------------------------------------- fingerprint
    def load_fingerprint(self) -> dict | None:
        data = _read_json(self.fingerprint_path)
        return data["settings"] if data is not None else None

    @writes
    def save_fingerprint(self, settings: dict, digest: str) -> None:
        write_json(self.fingerprint_path, {"digest": digest, "settings": settings})

    def has_run(self) -> bool:
        """Whether an earlier invocation left results here."""
        return self.has_init() or self.summary_path.exists() or self.rounds_dir.exists()

    # ---------------------------------------------------------------- initial and rewind weights
    def has_init(self) -> bool:
        return self.init_path.exists()

    @writes
    def save_init(self, state: dict) -> None:
        save_tensors(self.init_path, on_cpu(state))
        self._written(self.init_path)

    def init_damage(self) -> str | None:
        return self.damage(self.init_path)

    def load_init(self) -> dict:
        return load_tensors(self.init_path)

    @writes
    def save_rewind(self, step: int, state: dict) -> None:
        save_tensors(self.rewind_path, {"step": step, "state": on_cpu(state)})
        self._written(self.rewind_path)

    def rewind_step(self) -> int | None:
        """The step rewind.pt was captured at; None without one, or with a damaged one
        (which is moved aside, so that round 0 captures it again)."""
        if not self.rewind_path.exists():
            return None
        if problem := self.damage(self.rewind_path):
            self.move_aside(self.rewind_path)
            raise DamagedArtifact(problem)
        return load_tensors(self.rewind_path)["step"]

    def rewind_damage(self) -> str | None:
        """Why rewind.pt cannot be trusted; None when it is intact or there is none."""
        return self.damage(self.rewind_path) if self.rewind_path.exists() else None

    def load_rewind(self) -> dict:
        if not self.rewind_path.exists():
            raise FileNotFoundError(f"{self.rewind_path} is missing: round 0 was trained without policy=rewind; start a new run directory")
        return load_tensors(self.rewind_path)["state"]

    # ---------------------------------------------------------------- rounds
    def is_done(self, k: int) -> bool:
        return self.round(k).record.exists()

    @writes
    def clear_partial(self, k: int) -> None:
        """Forget what an interrupted attempt at round k left behind."""
        shutil.rmtree(self.tensorboard_dir(k), ignore_errors=True)
        self.round(k).checkpoint.unlink(missing_ok=True)

    @writes
    def save_checkpoint(self, k: int, write) -> None:
        """Round k's checkpoint, written by `write(path)` (Trainer.save_checkpoint) and renamed into place."""
        path = self.round(k).checkpoint
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp")
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        # The previous checkpoint's checksum goes first: killed between the rename
        # and the new entry, the new file has none and is checked by loading, not
        # refused for not matching the old one.
        self.ledger.forget(path)
        os.replace(tmp, path)
        self._written(path)

    def checkpoint(self, k: int) -> tuple[Path, int] | None:
        """Round k's checkpoint and its optimizer step, if there is an intact one;
        a damaged one is moved aside (DamagedArtifact)."""
        path = self.round(k).checkpoint
        if not path.exists():
            return None
        try:
            if problem := self.damage(path):
                raise DamagedArtifact(problem)
            return path, int(load_tensors(path)["global_step"])
        except Exception as err:  # noqa: BLE001 (unreadable is damaged)
            self.move_aside(path)
            raise err if isinstance(err, DamagedArtifact) else DamagedArtifact(f"{self.relative(path)} cannot be read") from None

    @writes
    def drop_checkpoint(self, k: int) -> None:
        self.round(k).checkpoint.unlink(missing_ok=True)

    @writes
    def save_start(self, k: int, state: dict) -> None:
        save_tensors(self.round(k).start, on_cpu(state))
        self._written(self.round(k).start)

    def load_start(self, k: int) -> dict:
        path = self.round(k).start
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing; rounds are only kept for verification when verify.enabled=true from the start of the run")
        return load_tensors(path)

    @writes
    def start_instability(self, k: int) -> None:
        shutil.rmtree(self.tensorboard_dir(k, "instability"), ignore_errors=True)

    def load_instability(self, k: int) -> dict | None:
        return _read_json(self.round(k).instability)

    @writes
    def save_round(self, k: int, state: dict, masks: dict, arch: dict, record: RoundRecord, instability: dict | None = None) -> None:
        files = self.round(k)
        if instability is not None:
            write_json(files.instability, instability)
            self._written(files.instability)
        save_tensors(files.mask, masks)
        save_tensors(files.weights, {key: v.detach().cpu() for key, v in state.items()})
        write_json(files.arch, arch)
        self._written(files.mask, files.weights, files.arch)
        write_json(files.record, record.to_dict())  # last: it marks the round done
        self._written(files.record)

    def round_damage(self, k: int) -> str | None:
        """Why finished round k cannot be trusted, or None: each of its files must be as written and readable."""
        entries = self.ledger.entries()
        for path in self.round(k).finished:
            if problem := self.ledger.damage(path, entries):
                return problem
        return None

    def load_record(self, k: int) -> RoundRecord:
        return RoundRecord.from_dict(json.loads(self.round(k).record.read_text()))

    def load_weights(self, k: int) -> dict:
        return load_tensors(self.round(k).weights)

    def load_masks(self, k: int) -> dict:
        return load_tensors(self.round(k).mask)

    def load_arch(self, k: int) -> dict | None:
        """Round k's arch.json; None for a round saved before arch.json existed."""
        return _read_json(self.round(k).arch)

    # ---------------------------------------------------------------- verification and summary
    def load_verification(self) -> dict | None:
        return _read_json(self.verification_record)

    @writes
    def start_verification(self, k: int) -> None:
        shutil.rmtree(self.tensorboard_dir(k, "verification").parent, ignore_errors=True)

    @writes
    def save_verification(self, metrics: dict) -> None:
        write_json(self.verification_record, metrics)

    def load_summary(self) -> dict | None:
        """summary.json as written, or None if there is none or it cannot be read."""
        try:
            return json.loads(self.summary_path.read_text())
        except (FileNotFoundError, ValueError):
            return None

    @writes
    def write_summary(self, data: dict) -> None:
        write_json(self.summary_path, data)
