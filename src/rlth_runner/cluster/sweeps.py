"""What rlth-run adds around Hydra's sweeps (`rlth-run -m`), whatever the
launcher (basic, joblib, submitit) or sweeper (basic, Optuna). Torch-free.

* Before any job, in the sweep's own process (`announce`): which keys the
  sweep varies and how many jobs run at once. Jobs may run in other processes
  or on other machines, so both travel in the environment, which joblib's
  workers, submitit's local processes and SLURM jobs (sbatch exports it by
  default) all inherit.
* Each job's directory is `<job number>_<swept key=value,...>` (`job_dir`),
  short and unique, so `tensorboard --logdir <sweep>` names every run by its
  job's values, e.g. `3_policy=grow,seed=2/tensorboard/round_1`.
* After the jobs (`tally`): how many completed, which failed, which a signal
  interrupted and which did not start (sweep_stop.py), read from each job's
  summary.json, so it works for jobs that ran anywhere. Only this
  sweep's jobs count: each job notes in the sweep directory that this sweep
  (`RLTH_SWEEP_ID`) started it, or that it was refused because another
  process (a second sweep into the same directory) holds its directory; a
  refused job is never this sweep's completed job.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import socket
import time
from dataclasses import dataclass, field

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

SWEPT_ENV = "RLTH_SWEPT_KEYS"  # comma-separated keys the sweep varies
CONCURRENT_ENV = "RLTH_CONCURRENT_JOBS"  # jobs of this sweep running at once on one machine
SWEEP_ID_ENV = "RLTH_SWEEP_ID"  # this sweep's own name for its ledger of jobs (storage/scan.py)
NAME_LIMIT = 64  # characters of a job directory's name after the job number
_UNSAFE = re.compile(r"[\s/\\'\"]+")


def announce(config) -> None:
    """Put the swept keys and the jobs' concurrency where every job finds them."""
    overrides = OverridesParser.create().parse_overrides(list(config.hydra.overrides.task))
    swept = [o.key_or_group for o in overrides if o.is_sweep_override()]
    params = OmegaConf.select(config, "hydra.sweeper.params") or {}
    swept += [key for key in params if key not in swept]  # Optuna's search space, when given in the config
    os.environ[SWEPT_ENV] = ",".join(swept)
    os.environ[CONCURRENT_ENV] = str(concurrency(config.hydra, _cells(overrides)))
    os.environ[SWEEP_ID_ENV] = f"{time.strftime('%Y-%m-%d_%H-%M-%S')}_{os.getpid()}_{socket.gethostname()}"


def sweep_id() -> str | None:
    """The running sweep's id (set by `announce`, inherited by every job)."""
    return os.environ.get(SWEEP_ID_ENV) or None


def _cells(overrides) -> int | None:
    """How many jobs the grid has; None when the sweep does not say (Optuna's distributions)."""
    sizes = []
    for o in overrides:
        if o.is_sweep_override():
            try:
                sizes.append(len(list(o.sweep_string_iterator())))
            except Exception:  # noqa: BLE001 - an interval or glob: not a countable grid
                return None
    return math.prod(sizes)


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def concurrency(hydra_cfg, cells: int | None) -> int:
    """Jobs running at once on this machine: 1 for the basic launcher (one after another)
    and for SLURM (each job has its own cores, cpus_per_task)."""
    launcher = str(OmegaConf.select(hydra_cfg, "launcher._target_") or "")
    sweeper = str(OmegaConf.select(hydra_cfg, "sweeper._target_") or "")
    if "Optuna" in sweeper:  # trials go to the launcher n_jobs at a time
        cells = OmegaConf.select(hydra_cfg, "sweeper.n_jobs") or 1
    if "Joblib" in launcher:
        n = int(OmegaConf.select(hydra_cfg, "launcher.n_jobs") or 1)
        at_once = cores() + 1 + n if n < 0 else n  # joblib's convention: -1 is every core
    elif "submitit_launcher.LocalLauncher" in launcher:
        at_once = cells or cores()  # submitit's local executor starts every job at once
    else:
        return 1
    return max(1, min(at_once, cells or at_once))


def job_dir(num, task_overrides) -> str:
    """A sweep job's directory name: its number, then its values of the swept keys."""
    name = job_name(task_overrides)
    return f"{num}_{name}" if name else str(num)


def job_name(task_overrides) -> str:
    """`key=value,...` for the swept keys (every override when the sweep's keys are unknown)."""
    swept = os.environ.get(SWEPT_ENV)
    keys = None if swept is None else set(filter(None, swept.split(",")))
    parts = []
    for override in map(str, task_overrides):
        key, _, value = override.partition("=")
        if keys is None or key.lstrip("+~") in keys:
            parts.append(f"{key}={_short(value)}")
    name = _UNSAFE.sub("_", ",".join(parts))
    if len(name) > NAME_LIMIT:  # stays unique through the job number; the hash tells long names apart at a glance
        name = f"{name[:NAME_LIMIT - 9]}~{hashlib.sha1(name.encode()).hexdigest()[:8]}"
    return name


def _short(value: str) -> str:
    """A float as 6 significant digits (Optuna's samples have 17): the job number keeps names unique."""
    try:
        number = float(value)
    except ValueError:
        return value
    return format(number, ".6g") if any(c in value for c in ".eE") and number == number else value


def swept_values(task_overrides) -> dict[str, str]:
    """This job's value of each swept key, as written on the command line."""
    keys = set(filter(None, os.environ.get(SWEPT_ENV, "").split(",")))
    pairs = (str(o).partition("=") for o in task_overrides)
    return {key.lstrip("+~"): value for key, _, value in pairs if key.lstrip("+~") in keys}


@dataclass
class Tally:
    completed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # job directory -> reason
    unfinished: list[str] = field(default_factory=list)  # no final status: killed, or still running elsewhere
    refused: dict[str, str] = field(default_factory=dict)  # job directory -> who holds it: this sweep did not run it
    interrupted: list[str] = field(default_factory=list)  # stopped by a signal, with a checkpoint: a re-run continues them
    not_started: list[str] = field(default_factory=list)  # the sweep was stopped before they started

    @property
    def ok(self) -> bool:
        """Whether every job of this sweep completed."""
        return not (self.failed or self.unfinished or self.refused or self.interrupted or self.not_started)

    def lines(self, sweep_dir) -> list[str]:
        total = sum(map(len, (self.completed, self.failed, self.unfinished, self.refused, self.interrupted, self.not_started)))
        head = f"Sweep {sweep_dir}: {total} job{'s' if total != 1 else ''}, {len(self.completed)} completed, {len(self.failed)} failed"
        if self.interrupted:
            head += f", {len(self.interrupted)} interrupted ({', '.join(self.interrupted)})"
        if self.not_started:
            head += f", {len(self.not_started)} not started ({', '.join(self.not_started)})"
        if self.unfinished:
            head += f", {len(self.unfinished)} without a final status ({', '.join(self.unfinished)})"
        if self.refused:
            head += f", {len(self.refused)} not run: in use by another process ({', '.join(self.refused)})"
        return [head, *(f"  failed: {job}: {' '.join(reason.split())}" for job, reason in self.failed.items())]


def tally(jobs: dict[str, dict | None], refused: dict[str, str] | None = None, not_started: set[str] = frozenset()) -> Tally:
    """The sweep's outcome from its jobs' summaries (job directory name -> summary.json, None if
    unreadable), the jobs it did not run because another process held them (`refused`) and
    those that did not start because the sweep was stopped (`not_started`)."""
    out = Tally(refused=dict(sorted((refused or {}).items(), key=lambda item: _job_number(item[0]))),
                not_started=sorted(not_started, key=_job_number))
    for job, summary in sorted(jobs.items(), key=lambda item: _job_number(item[0])):
        if job in out.refused or job in not_started:
            continue
        status = (summary or {}).get("status")
        attempt = (summary or {}).get("last_attempt")
        if status == "completed" and not attempt:
            out.completed.append(job)
        elif status == "interrupted" and not attempt:
            out.interrupted.append(job)
        elif status in ("failed", "interrupted") or attempt:
            reason = (attempt or summary).get("error") or status
            out.failed[job] = reason
        else:
            out.unfinished.append(job)
    return out


def _job_number(name: str) -> tuple[int, str]:
    head = name.partition("_")[0]
    return (int(head), name) if head.isdigit() else (1 << 62, name)
