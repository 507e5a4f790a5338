"""checksums.json: the sha256 and size of every artifact of a run, recorded once
the artifact is in place, and what a resume checks the artifacts it uses
against (`damage`). A damaged artifact is moved aside, never deleted."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import yaml

from ..record import RoundRecord
from .files import load_tensors, sha256, write_json
from .layout import RunLayout


class DamagedArtifact(RuntimeError):
    """An artifact a run needs is missing or not what was written; it was moved aside."""


class Ledger:
    def __init__(self, layout: RunLayout):
        self.layout = layout

    def entries(self) -> dict:
        try:
            return json.loads(self.layout.checksums_path.read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def record(self, *paths: Path) -> None:
        entries = self.entries()
        for path in paths:
            entries[self.layout.relative(path)] = {"sha256": sha256(path), "bytes": path.stat().st_size}
        write_json(self.layout.checksums_path, entries)

    def forget(self, path: Path) -> None:
        entries = self.entries()
        if entries.pop(self.layout.relative(path), None) is not None:
            write_json(self.layout.checksums_path, entries)

    def damage(self, path: Path, entries: dict | None = None) -> str | None:
        """Why `path` cannot be trusted (missing, or not what was written), or None.
        A file without a recorded checksum (older runs, or one killed before it
        was recorded) must at least load."""
        name = self.layout.relative(path)
        if not path.exists():
            return f"{name} is missing"
        entry = (self.entries() if entries is None else entries).get(name)
        if entry is None:
            return self._unreadable(path)
        size = path.stat().st_size
        if size != entry["bytes"]:
            return f"{name} has {size:,} bytes, not the {entry['bytes']:,} written"
        if sha256(path) != entry["sha256"]:
            return f"{name} does not match the checksum recorded when it was written"
        return None

    def _unreadable(self, path: Path) -> str | None:
        try:
            if self.layout.holds_tensors(path):
                load_tensors(path)
            elif path.suffix == ".yaml":  # Hydra's copy of the config: a mapping, never empty
                if not (isinstance(data := yaml.safe_load(path.read_text()), dict) and data):
                    raise ValueError("it holds no config")
            else:
                data = json.loads(path.read_text())
                if self.layout.is_round_record(path):
                    RoundRecord.from_dict(data)
        except Exception as err:  # noqa: BLE001 (any failure to read means the same: damaged)
            return f"{self.layout.relative(path)} cannot be read ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
        return None

    def move_aside(self, path: Path) -> Path:
        """Move a damaged artifact (file or round folder) to damaged/, keeping it."""
        target = self.layout.damaged_path(path, f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), str(target))
        return target
