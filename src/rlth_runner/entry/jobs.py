"""What a Hydra job records about itself, and what a sweep's jobs add up to.

A job that fails records why in its summary.json (`record_failure`) and
raises `JobFailed` to Hydra, so the sweep goes on; after the sweep the
command prints the tally (`report_sweep`), read from every job's summary.
A branch job (lottery/branches/) also rewrites Hydra's copy of its config,
and in a sweep links its directory into the sweep's.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from ..cluster import sweeps
from ..config import run_info
from ..storage.layout import RunLayout


class JobFailed(RuntimeError):
    """A sweep's job stopped for a reason it recorded in its summary.json; Hydra
    marks the job failed and the sweep goes on (main prints the tally)."""


def job_info(hc) -> dict:
    """What summary.json records about the command: its overrides and, in a sweep, the job."""
    overrides = [str(o) for o in hc.overrides.task]
    info: dict = {"overrides": overrides}
    if hc.mode == RunMode.MULTIRUN:
        info["job"] = {"num": hc.job.num, "dir": Path(hc.runtime.output_dir).name, "swept": sweeps.swept_values(overrides)}
    return info


def record_failure(cfg: DictConfig | None, message: str, keep: bool = False) -> None:
    """summary.json `status: failed` with the reason, unless the run already wrote its own
    (`keep`: the runner records the errors it sees once summary.json exists)."""
    from ..run.summary import record_failure as write_failure
    from ..storage.rundir import RunDir

    hc = HydraConfig.get()
    run_dir = RunDir(hc.runtime.output_dir)
    before = run_dir.load_summary()
    if keep and before is not None and before.get("status") != "running":
        return
    try:
        info = run_info(cfg) if cfg is not None else {}
    except Exception:  # noqa: BLE001 - a config too broken to describe: the overrides say what it was
        info = {}
    try:
        write_failure(run_dir, {**info, **job_info(hc)}, message)
    except OSError:
        pass  # a full disk: the job's line and the tally's "without a final status" say it


def job_name(hc) -> str:
    """The job's directory name in the sweep directory (a branch job's link there has it too)."""
    return sweeps.job_dir(hc.job.num, hc.overrides.task)


def note_job(refused: str | None = None, not_started: str | None = None) -> None:
    """Note in the sweep directory that this sweep started the running job (`refused`, `not_started`: and why it did not run it)."""
    from ..storage.scan import note_job as write_note

    hc, sweep_id = HydraConfig.get(), sweeps.sweep_id()
    if sweep_id is not None:
        try:
            write_note(hc.sweep.dir, sweep_id, job_name(hc), refused, not_started)
        except OSError:
            pass  # the tally then falls back to the summaries' times


def report_sweep(sweep_dir: Path, since_ns: int) -> bool:
    """Print how this sweep's jobs ended; whether any did not complete. The jobs are those the
    sweep's ledger names (storage/scan.py), else those whose summary.json was written at or after `since_ns`."""
    from ..storage.scan import drop_ledger, job_summaries, ledger

    sweep_id = sweeps.sweep_id()
    started = ledger(sweep_dir, sweep_id) if sweep_id is not None else None
    if started is None:
        tally = sweeps.tally(job_summaries(sweep_dir, since_ns=since_ns))
    else:
        refused = {job: entry["refused"] for job, entry in started.items() if entry.get("refused")}
        not_started = {job for job, entry in started.items() if entry.get("not_started")}
        tally = sweeps.tally(job_summaries(sweep_dir, only=set(started) - set(refused) - not_started), refused, not_started)
        drop_ledger(sweep_dir, sweep_id)
    if not (tally.completed or tally.failed or tally.unfinished or tally.refused or tally.interrupted or tally.not_started):
        return False
    print("\n" + "\n".join(tally.lines(sweep_dir)), file=sys.stdout if tally.ok else sys.stderr)
    return not tally.ok


def save_settled(cfg: DictConfig) -> None:
    """Hydra's copy of a branch's config holds what the command composed; the
    branch runs with its parent's settings, so that is what the copy must say."""
    hc = HydraConfig.get()
    if hc.output_subdir is not None:
        OmegaConf.save(cfg, RunLayout(hc.runtime.output_dir).hydra_config(hc.output_subdir))


def link_branch_job() -> None:
    """A sweep's branch job runs in its parent's branches/; a link in the sweep
    directory, named as any job's, lets the tally and `tensorboard --logdir <sweep>` find it."""
    hc = HydraConfig.get()
    link = Path(hc.sweep.dir) / sweeps.job_dir(hc.job.num, hc.overrides.task)
    if not link.exists() and not link.is_symlink():
        link.symlink_to(Path(hc.runtime.output_dir).absolute(), target_is_directory=True)
