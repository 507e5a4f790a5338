"""A job of several seeds (`replicas=K`): seeds seed .. seed+K-1, each in its own
run directory <job>/seed_<s>/ holding exactly what a single run of that seed
writes (its .hydra/config.yaml says seed=s, replicas=1 and its own directory),
trained round by round in one loop (rounds.run_lanes) whose fits are batched
(batched.py). The job's own summary.json lists the seeds and their statuses.

Everything the batched path cannot do is refused before any file is written:
the config's part by config/replicas.py, the data's and model's here, on the
first seed's preflight.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from ..config import fingerprint, run_info
from ..config.replicas import count
from ..data import DataError
from ..models.build import ModelDataMismatch
from ..models.stacked import NotStackable, stack
from ..storage.files import write_json
from ..storage.layout import ReplicasLayout
from ..storage.lock import RunDirBusy
from ..storage.rundir import RunDir
from . import hparams, interrupts, sources
from .batched import train_together
from .prepare import SetupError, preflight, prepare
from .rounds import Lane, run_lanes
from .runner import BadInput, RunDirInUse, check_settings, recorded
from .summary import Summary, format_table

log = logging.getLogger("rlth_runner")


def seed_config(cfg: DictConfig, seed: int, root: Path) -> DictConfig:
    """Seed `seed`'s config: the job's, as a single run of that seed in `root` would have it."""
    own = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    own.seed, own.replicas, own.paths.output_dir = seed, 1, str(root)
    OmegaConf.set_struct(own, True)  # as Hydra composes it: reading a key that is not there is an error
    return own


def run_job(cfg: DictConfig, job: dict) -> dict:
    layout = ReplicasLayout(cfg.paths.output_dir)
    seeds = [cfg.seed + i for i in range(count(cfg))]
    cfgs = [seed_config(cfg, s, layout.seed_dir(s)) for s in seeds]
    check_batchable(cfgs[0], layout.seed_dir(seeds[0]), len(seeds))
    job_summary = {"status": "running", "replicas": len(seeds), **run_info(cfg), **job,
                   "seeds": {str(s): {"dir": layout.seed_dir(s).name, "status": "running"} for s in seeds}}
    try:
        with ExitStack() as held:
            run_dirs = [RunDir(layout.seed_dir(s)) for s in seeds]
            for run_dir in run_dirs:
                held.enter_context(run_dir.lock())
            held.enter_context(interrupts.noted())
            lanes = [lane_of(c, run_dir, job) for c, run_dir in zip(cfgs, run_dirs)]
            write_json(layout.summary_path, job_summary)
            try:
                with recorded([lane.summary for lane in lanes]):
                    interrupts.check(" before round 0")
                    run_lanes(lanes, train_together)
            finally:
                for s, lane in zip(seeds, lanes):
                    job_summary["seeds"][str(s)]["status"] = lane.summary.info["status"]
                job_summary["status"] = _worst(lane.summary.info["status"] for lane in lanes)
                write_json(layout.summary_path, job_summary)
            for lane in lanes:
                finish(lane, job)
    except RunDirBusy as err:
        raise RunDirInUse(str(err)) from None
    job_summary.update(status="completed", seeds={str(s): {"dir": layout.seed_dir(s).name, "status": "completed"} for s in seeds})
    write_json(layout.summary_path, job_summary)
    objectives = [lane.objective for lane in lanes]
    print(f"\nJob directory: {layout.root} ({len(seeds)} seeds)\nCurves: tensorboard --logdir {layout.root}")
    return {"objective": None if None in objectives else sum(objectives) / len(objectives), "summary": job_summary}


def check_batchable(cfg: DictConfig, seed_dir: Path, k: int) -> None:
    """What the data and the model rule out, before any file exists (the first seed stands for all)."""
    try:
        data, net, _, _ = preflight(cfg, RunDir(seed_dir, writer=False))
    except (DataError, ModelDataMismatch) as err:
        raise BadInput(str(err)) from err
    if data.task != "classification":
        raise SetupError(f"replicas={k} needs classification data: dataset={cfg.dataset.name} is {data.task}; use replicas=1")
    try:
        stack([net, net], cfg.model.name)
    except NotStackable as err:
        raise SetupError(str(err)) from None


def lane_of(cfg: DictConfig, run_dir: RunDir, job: dict) -> Lane:
    """Seed cfg.seed's lane, prepared as runner._run prepares a single run (its .hydra copy first)."""
    config = run_dir.config_path
    if not config.exists():
        config.parent.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(cfg, config)
    settings = check_settings(cfg, run_dir)
    try:
        parts = prepare(cfg, run_dir)  # in_sweep=False: `eval_every_n_steps: auto` leaves the (unbatched) grid off
    except (DataError, ModelDataMismatch) as err:
        raise BadInput(str(err)) from err
    if run_dir.load_fingerprint() is None:
        run_dir.save_fingerprint(settings, fingerprint.digest(settings))
    summary = Summary(run_dir, {**run_info(cfg), **job, "threads": torch.get_num_threads()})
    return Lane(cfg, sources.for_run(cfg, run_dir, parts), run_dir, summary, parts)


def finish(lane: Lane, job: dict) -> None:
    summary = lane.summary
    stopped_by, reason = lane.ended
    summary.info.update(stopped_by=stopped_by, stop_reason=reason)
    summary.finish("completed")
    hparams.write(lane.run_dir.hparams_tensorboard, lane.cfg, job.get("job", {}).get("swept", {}), summary.rounds[-1])
    print(f"\nSeed {lane.cfg.seed}:\n" + format_table(summary.rounds) + f"\nStopped {reason}\nRun directory: {lane.run_dir.root}")


def _worst(statuses) -> str:
    statuses = set(statuses)
    return next((s for s in ("failed", "interrupted", "running") if s in statuses), "completed")


