"""Reading a sweep directory: each job's summary.json, wherever the job ran,
and the ledger of the jobs one sweep started (layout.SweepLayout)."""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

from .files import write_json
from .layout import RunLayout, SweepLayout, natural_order


def job_summaries(sweep_dir: Path | str, since_ns: int = 0, only: set[str] | None = None) -> dict[str, dict | None]:
    """A sweep's jobs whose summary.json was written at or after `since_ns` (or, given `only`,
    those jobs whatever the summary's age): job directory name -> its summary (None if it cannot be read)."""
    out = {}
    for job in sorted(Path(sweep_dir).iterdir()) if Path(sweep_dir).is_dir() else ():
        if only is not None and job.name not in only:
            continue
        path = RunLayout(job).summary_path
        try:
            if job.is_dir() and (only is not None or path.stat().st_mtime_ns >= since_ns):
                out[job.name] = json.loads(path.read_text())
        except FileNotFoundError:
            if only is not None:
                out[job.name] = None
        except (OSError, ValueError):
            out[job.name] = None
    for name in (only or set()) - set(out):
        out[name] = None  # started, but left no directory
    return out


def finished_jobs(path: Path | str, as_named: str | None = None) -> list[str] | None:
    """The jobs of the sweep directory at `path` whose summary.json says completed, as paths under
    `as_named` (the directory as the user named it), in the jobs' order; None if `path` is no sweep
    directory. A branch job's link (lottery/branches/) is left out: a branch is not branched again."""
    sweep = SweepLayout(path)
    if not sweep.record.is_file() or RunLayout(path).config_path.exists():
        return None
    done = [name for name, summary in job_summaries(path).items()
            if (summary or {}).get("status") == "completed" and not (Path(path) / name).is_symlink()]
    return [str(Path(as_named or path) / name) for name in sorted(done, key=natural_order)]


def note_job(sweep_dir: Path | str, sweep_id: str, job: str, refused: str | None = None, not_started: str | None = None) -> None:
    """Sweep `sweep_id` started `job` in this process (noted, so a signal to the sweep reaches it,
    cluster/sweep_stop.py); `refused`: why the job did not run (another process holds its directory);
    `not_started`: why it did not start (the sweep was stopped)."""
    entry = {"job": job, "refused": refused, "pid": os.getpid(), "host": socket.gethostname()}
    if not_started:
        entry["not_started"] = not_started
    write_json(SweepLayout(sweep_dir).ledger_entry(sweep_id, job), entry)


def mark_stopped(sweep_dir: Path | str, sweep_id: str, reason: str) -> None:
    """Sweep `sweep_id` was stopped: its jobs that have not started do not start."""
    path = SweepLayout(sweep_dir).stop_mark(sweep_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(reason + "\n")


def stopped(sweep_dir: Path | str, sweep_id: str) -> str | None:
    """Why sweep `sweep_id` was stopped, if it was."""
    try:
        return SweepLayout(sweep_dir).stop_mark(sweep_id).read_text().strip()
    except OSError:
        return None


def ledger(sweep_dir: Path | str, sweep_id: str) -> dict[str, dict] | None:
    """The jobs sweep `sweep_id` started: name -> its entry; None when it kept no ledger."""
    folder = SweepLayout(sweep_dir).ledger(sweep_id)
    if not folder.is_dir():
        return None
    out = {}
    for path in folder.glob("*.json"):
        try:
            entry = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        out[entry.get("job", path.stem)] = entry
    return out


def drop_ledger(sweep_dir: Path | str, sweep_id: str) -> None:
    """Remove sweep `sweep_id`'s ledger once its tally is printed, and the folders above it left empty."""
    layout = SweepLayout(sweep_dir)
    shutil.rmtree(layout.ledger(sweep_id), ignore_errors=True)
    for folder in (layout.ledgers, layout.ledgers.parent):
        try:
            folder.rmdir()
        except OSError:
            return
