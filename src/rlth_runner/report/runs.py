"""Finding run directories under the PATHs and loading the completed ones.

A run directory is any directory holding a summary.json (storage/layout.py); a sweep
directory holds many. Only completed runs are reported: the others are
returned as `Skipped`, with the reason the command prints.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..record import RoundRecord
from ..storage.layout import ReplicasLayout, RunLayout, TicketFiles, natural_order
from ..storage.rundir import RunDir
from .configs import read_config


class ReportError(Exception):
    """A bad input: the command prints it as one line and exits 2."""


@dataclass(frozen=True)
class InstabilityPath:
    """rounds/round_<k>/instability.json: the test error at points along the straight line
    between two copies of the round's network (alpha 0 to 1), and its barrier."""

    points: list[tuple[float, float]]  # (alpha, test error)
    barrier: float


@dataclass
class Run:
    path: Path
    seed: int | None
    records: list[RoundRecord]
    config: dict  # the composed config, flattened to dotted keys, without `paths`
    settings: dict  # the keys that decide the results (config/fingerprint.py)
    instability: dict[int, InstabilityPath] = field(default_factory=dict)  # by round
    exports: dict[int, dict[str, float]] = field(default_factory=dict)  # by round: rlth-export --bench's speed-ups (EXPORT_KEYS)

    def barrier(self, record: RoundRecord) -> float | None:
        """The round's instability barrier: from its record, or from its instability.json
        (a record written before the field existed keeps it in `extra`, or not at all)."""
        value = getattr(record, "instability_barrier", None)
        if value is None:
            value = record.extra.get("instability_barrier")
        if value is None and record.round in self.instability:
            value = self.instability[record.round].barrier
        return value


@dataclass(frozen=True)
class Skipped:
    path: Path
    reason: str


def find_run_dirs(path: Path) -> list[Path]:
    """Every directory at or below `path` that holds a summary.json. A run directory
    holds no other run but its branches, so the walk descends into nothing else
    of one (its event files and checkpoints are most of a sweep's files). Links are
    followed (a sweep of branches links to them), and a run found twice counts once."""
    if not path.exists():
        raise ReportError(f"{path} does not exist")
    if not path.is_dir():
        raise ReportError(f"{path} is not a directory: give a run directory or a sweep directory")
    layout = RunLayout(path)
    found, seen, summary, branches = [], set(), layout.summary_path.name, layout.branches.name
    for root, dirs, files in os.walk(path, followlinks=True):
        seed_dirs = ReplicasLayout(root).seed_dirs() if summary in files else []
        if seed_dirs:  # a job of several seeds (replicas): its summary lists them, each a run directory
            dirs[:] = seed_dirs
        elif summary in files:
            if Path(root).resolve() not in seen:
                seen.add(Path(root).resolve())
                found.append(Path(root))
            dirs[:] = [d for d in dirs if d == branches]
        else:
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    return sorted(found, key=lambda found_dir: natural_order(str(found_dir)))


def load_runs(paths: list[Path]) -> tuple[list[Run], list[Skipped]]:
    runs, skipped = [], []
    for path in paths:
        run_dirs = find_run_dirs(path)
        if not run_dirs:
            raise ReportError(f"{path} holds no run: no summary.json at or below it")
        for run_dir in run_dirs:
            loaded = load_run(run_dir)
            (runs if isinstance(loaded, Run) else skipped).append(loaded)
    return runs, skipped


def load_run(run_dir: Path) -> Run | Skipped:
    directory = RunDir(run_dir, writer=False)
    summary = directory.load_summary()
    if summary is None:
        return Skipped(run_dir, f"{directory.summary_path.name} cannot be read")
    if problem := _unfinished(summary):
        return Skipped(run_dir, problem)
    try:
        records = [RoundRecord.from_dict(r) for r in summary["rounds"]]
    except (KeyError, TypeError, ValueError) as err:
        return Skipped(run_dir, f"the rounds in {directory.summary_path.name} cannot be read ({err})")
    config_file = directory.newest_config()
    if config_file is None:
        return Skipped(run_dir, f"no config: {directory.relative(directory.config_path)} is missing")
    try:
        config, settings = read_config(config_file)
    except Exception as err:  # noqa: BLE001 (yaml, OmegaConf and interpolation errors all mean: no usable config)
        return Skipped(run_dir, f"{config_file.relative_to(run_dir)} cannot be read ({type(err).__name__}: {_first_line(err)})")
    seed = summary.get("seed", config.get("seed"))
    rounds = [r.round for r in records]
    return Run(run_dir, seed, records, config, settings, read_instability(directory, rounds), read_exports(directory, rounds))


def _unfinished(summary: dict) -> str | None:
    status = summary.get("status")
    if status == "completed":
        return None if summary.get("rounds") else "completed with no round"
    if status == "failed":
        return f"status failed ({_first_line(summary.get('error') or 'no error recorded')})"
    if status == "interrupted":
        return f"status interrupted ({summary.get('signal') or 'no signal recorded'})"
    if status == "running":
        return "status running: still running, or stopped without a final status"
    return f"status {status!r}"


def _first_line(message) -> str:
    lines = str(message).strip().splitlines()
    line = lines[0] if lines else ""
    return line if len(line) <= 160 else line[:157] + "..."


def read_instability(directory: RunDir, rounds: list[int]) -> dict[int, InstabilityPath]:
    out = {}
    for k in rounds:
        try:
            if (data := directory.load_instability(k)) is None:
                continue
            points = [(float(alpha), float(error)) for alpha, error in data["points"]]
            errors = [error for _, error in points]
            # the file's barrier; for one without, instability.barrier's formula (it imports torch)
            barrier = data.get("barrier", max(errors) - (errors[0] + errors[-1]) / 2)
            out[k] = InstabilityPath(points, float(barrier))
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            continue  # none, or damaged: only the path's plot is lost, the barrier is in the round's record
    return out


# rlth-export --bench's throughput speed-ups over the dense network at batch 256, by form (docs/export.md).
EXPORT_KEYS = {"compact_speedup": "compact", "csr_speedup": "csr"}


def read_exports(directory: RunDir, rounds: list[int]) -> dict[int, dict[str, float]]:
    """The benchmarks of rounds exported to their default folder (<run>/export/round_<k>/ticket.json)."""
    out = {}
    for k in rounds:
        try:
            forms = json.loads(TicketFiles(directory.export_dir(k)).info.read_text())["bench"]["forms"]
            out[k] = {key: float(forms[form]["throughput_speedup"]) for key, form in EXPORT_KEYS.items() if form in forms}
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not exported, exported without --bench, or unreadable: no column value
    return out
