"""The run and round `rlth-export` exports, or one line saying why it cannot.

Torch-free until a round is chosen and checked: a bad input answers at once.
A round is exported only when it is finished (its metrics.json exists) and
every file it needs is as written (the checksum ledger, rundir.py): a ticket
made from a damaged file would carry the damage out of the lab unnoticed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..config import fingerprint
from ..storage.rundir import RunDir


class ExportError(Exception):
    """A bad input: the command prints it as one line and exits 2."""


@dataclass(frozen=True)
class Source:
    run: RunDir
    round: int

    def fingerprint(self) -> dict | None:
        settings = self.run.load_fingerprint()
        return None if settings is None else {"digest": fingerprint.digest(settings), "settings": settings}


def _span(rounds: list[int]) -> str:
    return "none" if not rounds else f"round {rounds[0]}" if len(rounds) == 1 else f"rounds {rounds[0]}-{rounds[-1]}"


def open_round(path: Path, k: int | None) -> Source:
    if not path.exists():
        raise ExportError(f"{path} does not exist: give a run directory, e.g. outputs/<date>/<time>")
    if not path.is_dir():
        raise ExportError(f"{path} is not a directory: give a run directory, e.g. outputs/<date>/<time>")
    run = RunDir(path, writer=False)
    if not run.has_run():
        raise ExportError(f"{path} is not a run directory: it has no {run.summary_path.name}, {run.init_path.name} or finished rounds")
    finished = run.finished_rounds()
    if k is None:
        if not finished:
            raise ExportError(f"{path} has no finished round: round 0 is still training, or the run stopped before it finished")
        k = finished[-1]
    elif k not in finished:
        if k < 0:
            raise ExportError(f"--round {k} must be a round number >= 0 (finished in {path}: {_span(finished)})")
        state = "is not finished (still training, or interrupted)" if run.round_dir(k).exists() else "does not exist"
        raise ExportError(f"round {k} of {path} {state}; finished: {_span(finished)}")
    repair = "re-running the run's rlth-run command in it moves the file to damaged/ and rebuilds it"
    for problem in (run.round_damage(k), run.init_damage() if run.has_init() else f"{run.init_path.name} is missing", run.rewind_damage()):
        if problem:
            raise ExportError(f"{path}: round {k} cannot be exported: {problem}; {repair}")
    if run.load_arch(k) is None:
        raise ExportError(f"round {k} of {path} has no architecture file: an older rlth-runner saved it")
    return Source(run, k)


def check_out(out: Path) -> list[Path]:
    """Create `out`, or say why it cannot be written; the directories this made, deepest first."""
    made = [d for d in (out, *out.parents) if not d.exists()]
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        remove_empty(made)
        raise ExportError(f"--out {out} cannot be created: {err.strerror or err}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ExportError(f"--out {out} is not writable: choose a directory you can write to")
    return made


def remove_empty(made: list[Path] | None) -> None:
    """After a failure: the directories `check_out` made, as long as nothing was written in them."""
    for d in made or ():
        try:
            d.rmdir()
        except OSError:
            return
