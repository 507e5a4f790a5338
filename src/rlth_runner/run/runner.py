"""One run: lock its directory, check that it holds no run made with other
settings, prepare (prepare.py), run the round loop (rounds.py) over the run's
source of rounds (sources.py: a lottery run or a branch), optionally retrain
the final subnetwork to verify it (`verify`), and record how it ended in
summary.json.

Plain Python around a fresh Lightning Trainer per round. Every round's
artifacts go to its own folder (storage/), so a run killed anywhere resumes
by re-running its command in the same directory.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Callable

import torch
from omegaconf import DictConfig

from .. import seeds
from ..cluster import distributed
from ..config import ConfigError, fingerprint, run_info
from ..data import DataError
from ..lottery import stopping
from ..models.build import ModelDataMismatch
from ..record import RoundRecord
from ..storage import disk
from ..storage.lock import RunDirBusy
from ..storage.rundir import RunDir
from ..training.callbacks import NonFiniteLossError
from . import checkpoints, config_copy, hparams, interrupts, sources
from .fitting import fit
from .prepare import RunParts, prepare
from .rounds import run_rounds
from .specs import fit_spec
from .summary import Summary, format_table

log = logging.getLogger("rlth_runner")


class RunError(RuntimeError):
    """A run stopped for a reason the user can act on; the message says which."""


class BadInput(RunError):
    """A run that cannot start from what it was given: data that is not there, a model that
    cannot take the data. rlth-run exits 2 for it, as for a bad value."""


class RunDirInUse(BadInput):
    """Another process runs in this run directory (storage/lock.py)."""


class DiskFull(BadInput):
    """A write the file system refused (no space, quota, read-only: storage/disk.py); finished rounds are kept."""


def run(cfg: DictConfig, job: dict | None = None, recompose: Callable[[], str | None] | None = None) -> dict:
    """Run (or resume) the experiment `cfg` in its directory. `job`: what summary.json
    records about the command (its overrides; in a sweep, the job and its swept values).
    A job of several seeds (replicas > 1) is replicas.run_job's.
    `recompose`: the text of the run's `.hydra/config.yaml` from its saved command (config_copy.py)."""
    run_dir = RunDir(cfg.paths.output_dir, writer=distributed.rank_of(cfg.hardware) == 0)  # under DDP, only rank 0 writes
    try:
        with run_dir.lock(), interrupts.noted(), distributed.ranks(cfg, job or {}):
            return _run(cfg, run_dir, job or {}, recompose)
    except RunDirBusy as err:
        raise RunDirInUse(str(err)) from None
    except distributed.RankError as err:
        raise RunError(str(err)) from None
    except BaseException as err:
        if not isinstance(err, BadInput) and (message := disk.line(err, run_dir.root)) is not None:
            raise DiskFull(message) from err
        raise


def _run(cfg: DictConfig, run_dir: RunDir, job: dict, recompose) -> dict:
    with distributed.rank_zero_first():  # under DDP rank 0 checks and repairs the directory, then the others read it
        settings = check_settings(cfg, run_dir)  # before any work: never mix two runs in one directory
        try:
            parts = prepare(cfg, run_dir, in_sweep="job" in job)  # errors that need the data or model (SetupError), before summary.json
        except (DataError, ModelDataMismatch) as err:
            raise BadInput(str(err)) from err
        config_copy.check(run_dir, recompose)
        if run_dir.load_fingerprint() is None:
            run_dir.save_fingerprint(settings, fingerprint.digest(settings))
    summary = Summary(run_dir, {**run_info(cfg), **job, "threads": torch.get_num_threads(), **distributed.describe()})
    with recorded([summary]):
        interrupts.check(" before round 0")
        objective, stopped_by, reason = run_rounds(cfg, sources.for_run(cfg, run_dir, parts), run_dir, summary, parts)
        summary.info.update(stopped_by=stopped_by, stop_reason=reason)
        if cfg.verify.enabled:
            summary.info["verification"] = verify(cfg, run_dir, parts, summary.rounds)
    summary.finish("completed")
    if run_dir.writer:
        hparams.write(run_dir.hparams_tensorboard, cfg, job.get("job", {}).get("swept", {}), summary.rounds[-1])
    print("\n" + format_table(summary.rounds))
    print(f"\nStopped {reason}")
    if "verification" in summary.info:
        print(format_verification(summary.info["verification"]))
    print(f"\nRun directory: {run_dir.root}\nCurves: tensorboard --logdir {run_dir.tensorboard}")
    return {"objective": objective, "summary": summary.data}


@contextmanager
def recorded(summaries: list[Summary]):
    """Record in every summary.json how the rounds inside ended, if not by finishing: failed or interrupted."""
    try:
        yield
    except NonFiniteLossError as err:
        for summary in summaries:
            summary.finish("failed", error=str(err))
        raise RunError(str(err)) from err
    except BaseException as err:
        # Lightning turns a SIGTERM during validation into its own exception: the noted signal decides.
        if interrupts.received is not None:
            stop = err if isinstance(err, interrupts.Interrupted) else interrupts.Interrupted(interrupts.received)
            for summary in summaries:
                summary.finish("interrupted", signal=stop.name, error=str(stop))
            raise stop from None
        if (message := disk.line(err, summaries[0].run_dir.root if summaries else ".")) is not None:
            for summary in summaries:
                try:
                    summary.finish("failed", error=message)
                except OSError:
                    pass  # no room for summary.json either: the line says it all
            raise DiskFull(message) from err
        cause = distributed.explain(err)  # a collective broken by another rank's failure: that rank's error
        for summary in summaries:
            summary.finish("failed", error=f"{type(cause).__name__}: {cause}")
        if cause is not err:
            raise cause from err
        raise


def check_settings(cfg: DictConfig, run_dir: RunDir) -> dict:
    """The run's result-deciding settings; ConfigError naming the keys if the
    directory holds a run made with others (config/fingerprint.py)."""
    settings = fingerprint.settings(cfg)
    stored = run_dir.load_fingerprint()
    if stored is None:
        if run_dir.has_run():
            log.warning("%s has results but no fingerprint.json (an older version made it): its settings cannot be checked", run_dir.root)
        return settings
    if diff := fingerprint.differences(stored, settings):
        raise ConfigError(f"{run_dir.root} holds a run made with other settings: {'; '.join(diff)}. Re-run with the run's own "
                          f"settings (only {', '.join(s.rstrip('.') for s in fingerprint.SAFE)} may change), or use a new hydra.run.dir")
    return settings


def verify(cfg: DictConfig, run_dir: RunDir, parts: RunParts, rounds: list[RoundRecord]) -> dict:
    """Algorithm 1, lines 7-10: retrain the final subnetwork from the weights
    its round started from (its policy's starting point), with a batch order
    no round used, and judge it against the reference accuracy."""
    k = rounds[-1].round
    saved = run_dir.load_verification()
    if saved is not None:
        record, seed = RoundRecord.from_dict(saved), saved["seed"]
    else:
        try:
            start = run_dir.load_start(k)
        except FileNotFoundError as err:
            raise RunError(f"cannot verify round {k}: {err}") from None
        checkpoints.restore(parts.net, start, run_dir.load_arch(k))
        seed = cfg.verify.seed if cfg.verify.seed is not None else seeds.derive(cfg.seed, "verify")
        log.info("Verifying round %d's subnetwork: retraining it from its starting point (batch seed %d)", k, seed)
        run_dir.start_verification(k)
        record = fit(fit_spec(cfg, parts, k, run_dir.tensorboard_location(k, "verification")), parts, seed)
        run_dir.save_verification({**record.to_dict(), "seed": seed})
    return {"policy": run_info(cfg)["policy"], "seed": seed, "val_acc": record.val_acc, "test_acc": record.test_acc,
            "train_steps": record.train_steps, **stopping.judge(cfg.verify, cfg.stop, rounds, record)}


def format_verification(v: dict) -> str:
    verdict = "a winning ticket" if v["winning_ticket"] else "NOT a winning ticket"
    pct = lambda x: "-" if x is None else f"{100 * x:.2f}%"  # noqa: E731
    return (
        f"Verification of round {v['round']}: retrained {v['metric']} {pct(v['acc'])} vs {v['reference']} {pct(v['reference_acc'])} "
        f"(tolerance {100 * v['tolerance']:.2f} points), density {pct(v['density'])}, compression {v['compression']:.2f}x: {verdict}"
    )
