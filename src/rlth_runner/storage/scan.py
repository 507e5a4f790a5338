"""Reading a sweep directory: each job's summary.json, wherever the job ran."""

from __future__ import annotations

import json
from pathlib import Path

from .layout import RunLayout


def job_summaries(sweep_dir: Path | str, since_ns: int = 0) -> dict[str, dict | None]:
    """A sweep's jobs whose summary.json was written at or after `since_ns`:
    job directory name -> its summary (None if it cannot be read)."""
    out = {}
    for job in sorted(Path(sweep_dir).iterdir()) if Path(sweep_dir).is_dir() else ():
        path = RunLayout(job).summary_path
        try:
            if job.is_dir() and path.stat().st_mtime_ns >= since_ns:
                out[job.name] = json.loads(path.read_text())
        except FileNotFoundError:
            continue
        except (OSError, ValueError):
            out[job.name] = None
    return out
