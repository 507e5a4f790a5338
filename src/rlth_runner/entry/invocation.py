"""One `rlth-run` command: how it was asked to report errors, and what it found
and did in the file system, so that a command failing before any result
removes what it added (conf/hydra/run_dirs.yaml).

* `claim` creates the run (or sweep) directory before Hydra does, so one that
  cannot be created or written is a one-line error, and notes what existed.
* `clean_up`, after a failure with no result written: the whole directory if
  this command created it, else its copy of the config and a log it created.
  A directory with results is never removed.
* `hydra_subdir`: Hydra's copy of the config goes to `.hydra/`, or to
  `.hydra/invocations/<time>/` when `.hydra/` holds an earlier invocation's,
  so re-running in a run directory never overwrites the config the run was
  made with (storage/layout.py names both).
* `keep_sweep_record`: Hydra's sweeper writes multirun.yaml over an earlier
  sweep's; a copy of the earlier one stays beside it, unless the new one is
  the same (`drop_unchanged_sweep_record`, after the sweep).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ..config import ConfigError
from ..storage.layout import HYDRA_DIR, SWEEP_RECORD, RunLayout, SweepLayout


def writable(path: Path) -> bool:
    return os.access(path, os.W_OK | os.X_OK)


def stamp() -> str:
    return time.strftime("%Y-%m-%d_%H-%M-%S")


@dataclass
class Invocation:
    started_ns: int = field(default_factory=time.time_ns)
    debug: bool = False  # RLTH_DEBUG=1: the traceback before the one-line error
    user_hydra_full_error: str | None = None  # HYDRA_FULL_ERROR as the user set it
    created: list[Path] = field(default_factory=list)  # the topmost directory of each chain this command made
    found: dict[Path, frozenset[str]] = field(default_factory=dict)  # an existing run or sweep directory: what it held
    subdirs: dict[str, str] = field(default_factory=dict)  # run directory -> where Hydra's copy of the config goes
    sweep_dir: Path | None = None  # set once a sweep (-m) starts its jobs
    argv: list[str] = field(default_factory=list)  # the command's arguments as typed (the continue command repeats them)
    kept_record: Path | None = None  # a copy of an earlier sweep's multirun.yaml this command made (keep_sweep_record)

    # Hydra builds the run-directory callback and the job from conf/ and can hand them no
    # object: they find the invocation of the command running in this process here.
    _running: ClassVar[Invocation | None] = None

    @contextmanager
    def running(self):
        previous, Invocation._running = Invocation._running, self
        try:
            yield self
        finally:
            Invocation._running = previous

    @classmethod
    def current(cls) -> Invocation:
        """The running command's invocation; a fresh one in a process `main` did not start
        (a sweep's job in a joblib or submitit worker)."""
        if cls._running is None:
            cls._running = cls()
        return cls._running

    def restore_hydra_full_error(self) -> None:
        if self.user_hydra_full_error is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = self.user_hydra_full_error

    def created_here(self, path: Path) -> bool:
        """Whether this command made `path` (or a directory above it)."""
        if any(path == top or top in path.parents for top in self.created):
            return True
        for directory, names in self.found.items():
            if directory in path.parents:
                return path.relative_to(directory).parts[0] not in names
        return False

    def claim(self, config: DictConfig, key: str) -> None:
        """Create the directory `key` names, noting what was there; ConfigError if it cannot be created or written."""
        HydraConfig.instance().set_config(config)  # what a `${hydra:...}` in the path reads (run_job sets it again)
        value = OmegaConf.select(config, key)
        path = Path(os.path.abspath(str(value)))
        base = path
        while not os.path.lexists(base):
            base = base.parent
        advice = "choose a directory you can write to"
        if not base.is_dir():
            what = "a file, not a directory" if base.is_file() else "not a directory"
            raise ConfigError(f"{key}={value} is {what}; {advice}" if base == path else
                              f"{key}={value} cannot be created: {base} is {what}; {advice}")
        if base != path:
            self.created.append(base / path.relative_to(base).parts[0])
        else:
            try:
                self.found[path] = frozenset(os.listdir(path))
            except OSError:
                pass  # unknown: nothing in it will count as this command's but its copy of the config
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            self.remove_empty(path if path.exists() else path.parent)
            raise ConfigError(f"{key}={value} cannot be created in {base}: {err.strerror or err}; {advice}") from None
        if not writable(path):
            self.remove_empty(path)
            raise ConfigError(f"{key}={value} is not writable: {advice}")

    def hydra_subdir(self, output_dir: str) -> str | None:
        """Where Hydra writes its copy of the config, relative to the run directory
        (RunLayout.hydra_subdir). None (no copy) in a DDP rank other than 0 that SLURM
        or torchrun started through the command line: only rank 0 writes.

        Decided once per run directory and command: Hydra resolves it after making
        the directory and before writing the copy, and may ask again later."""
        if int(os.environ.get("SLURM_NTASKS", "1")) > 1 and int(os.environ.get("SLURM_PROCID", "0")) > 0 or int(os.environ.get("RANK", "0")) > 0:
            return None
        root = os.path.abspath(output_dir)
        if root not in self.subdirs:
            self.subdirs[root] = RunLayout(root).hydra_subdir(stamp())
        return self.subdirs[root]

    def keep_sweep_record(self, sweep_dir: Path) -> None:
        """Before Hydra writes the sweep's multirun.yaml: copy an earlier sweep's to multirun.<its time>.yaml,
        unless an identical copy is there already."""
        layout = SweepLayout(sweep_dir)
        try:
            earlier = layout.record.read_bytes()
        except OSError:
            return
        if any(kept.read_bytes() == earlier for kept in layout.earlier_records()):
            return
        stamp = time.strftime("%Y-%m-%d_%H-%M-%S", time.localtime(layout.record.stat().st_mtime))
        self.kept_record = layout.earlier_record(stamp)
        shutil.copy2(layout.record, self.kept_record)

    def drop_unchanged_sweep_record(self) -> None:
        """After the sweep: the copy `keep_sweep_record` made goes if multirun.yaml is still the same."""
        kept, self.kept_record = self.kept_record, None
        if kept is None or self.sweep_dir is None:
            return
        try:
            if SweepLayout(self.sweep_dir).record.read_bytes() == kept.read_bytes():
                kept.unlink()
        except OSError:
            pass  # both stay: nothing is lost

    def clean_up(self, wrote_nothing: bool = False) -> None:
        """After a failure: remove what this command added to its run directory, if it wrote no result there.
        `wrote_nothing`: the command stopped before writing anything there (another process was using the
        directory, so the results in it are that process's): its copy of the config under
        .hydra/invocations/ goes all the same.

        This command's copy of the config goes. In a directory it created, so do
        its log and hidden bookkeeping files (the runner's lock) and then the
        directory, once nothing else is left (a sweep directory left with only
        Hydra's multirun.yaml too); in one it found, only a log it created. A
        result is any other visible entry written since the command started: with
        one, nothing is removed.
        """
        try:
            hc = HydraConfig.get()
            out = Path(hc.runtime.output_dir)
            subdir = hc.output_subdir
            logs = {Path(h.filename) for h in (hc.job_logging or {}).get("handlers", {}).values() if h.get("filename")}
        except (ValueError, OmegaConfBaseException, AttributeError, TypeError):  # Hydra's job config is gone, or never was
            if len(self.subdirs) != 1:
                return
            # a run whose job never started (Hydra's copies did not fit): the one directory whose copy was placed
            [(root, subdir)] = self.subdirs.items()
            out = Path(root)
            logs = {Path(h.baseFilename) for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)}
        logs = {log for log in logs if log.parent == out}
        try:
            if not out.is_dir():
                return
            if self.holds_new_results(out, logs):
                if not (wrote_nothing and subdir and subdir != HYDRA_DIR):
                    return
                for path in RunLayout(out).hydra_files(subdir):  # only this command's copy: the results are another's
                    path.unlink(missing_ok=True)
                self.remove_empty(out / subdir, stop=out / HYDRA_DIR)
                return
            if subdir and out in (out / subdir).parents:
                for path in RunLayout(out).hydra_files(subdir):
                    path.unlink(missing_ok=True)
                self.remove_empty(out / subdir, stop=out)
            if self.created_here(out):
                bookkeeping = lambda e: e in logs or (e.name.startswith(".") and e.is_file() and not e.is_symlink())  # noqa: E731
                left = list(out.iterdir())
                if all(bookkeeping(entry) for entry in left):  # else another command is using the directory too
                    for entry in left:
                        entry.unlink()
                    self.remove_empty(out)
            elif out in self.found:
                for log in logs - {out / name for name in self.found[out]}:
                    log.unlink(missing_ok=True)
        except OSError:
            pass  # best effort: the error being reported matters more

    def holds_new_results(self, out: Path, logs: set[Path]) -> bool:
        """Whether `out` has a visible entry (not a log) written since this command started."""
        for entry in out.iterdir():
            if not entry.name.startswith(".") and entry not in logs and entry.lstat().st_mtime_ns >= self.started_ns:
                return True
        return False

    def remove_empty(self, path: Path, stop: Path | None = None) -> None:
        """Remove `path` and the directories above it while they are empty and this command made
        them (up to `stop`, exclusive); a sweep directory holding only multirun.yaml counts as empty."""
        while path != stop and (stop is not None or self.created_here(path)):
            try:
                if stop is None and [p.name for p in path.iterdir()] == [SWEEP_RECORD]:
                    (path / SWEEP_RECORD).unlink()
                path.rmdir()
            except OSError:
                return
            path = path.parent
