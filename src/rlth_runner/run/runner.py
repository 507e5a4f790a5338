"""The round loop: build, fit, evaluate, prune, apply the policy, save, log.

Plain Python around a fresh Lightning Trainer per round. Every round's
artifacts go to its own folder (rundir.py); a round already on disk is
skipped, so resuming a run is re-running its command in the same directory.
The run ends at `rounds` or at the first stopping rule met (stopping.py),
then optionally retrains the final subnetwork to verify it (`verify`).
"""

from __future__ import annotations

import logging

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig

from .. import seeds
from ..analysis import flops, measures
from ..cluster import distributed, hardware
from ..config import ConfigError, fingerprint, run_info
from ..data import DataError, TensorBatches, load_dataset
from ..lottery import branches, budget, growth, policies, stopping
from ..lottery.pruning import masks, pruners
from ..models.build import ModelDataMismatch, build_model
from ..record import RoundRecord
from ..storage.lock import RunDirBusy
from ..storage.rundir import RunDir
from ..training.callbacks import NonFiniteLossError
from ..training.early_stop import grid_every
from ..training.lr_schedules import check_fits
from ..training.trainer import quiet_lightning
from . import checkpoints, hparams, interrupts
from .branch_rounds import run_branch
from .fitting import Setup, find_round, finish_round, fit, log_round, train_round
from .summary import Summary, format_table

log = logging.getLogger("rlth_runner")


class RunError(RuntimeError):
    """A run stopped for a reason the user can act on; the message says which."""


def run(cfg: DictConfig, job: dict | None = None) -> dict:
    """Run (or resume) the experiment `cfg` in its directory. `job`: what summary.json
    records about the command (its overrides; in a sweep, the job and its swept values)."""
    run_dir = RunDir(cfg.paths.output_dir, writer=distributed.rank_of(cfg.hardware) == 0)  # under DDP, only rank 0 writes
    try:
        with run_dir.lock(), interrupts.noted(), distributed.ranks(cfg, job or {}):
            return _run(cfg, run_dir, job or {})
    except (RunDirBusy, distributed.RankError) as err:
        raise RunError(str(err)) from None


def _run(cfg: DictConfig, run_dir: RunDir, job: dict) -> dict:
    with distributed.rank_zero_first():  # under DDP rank 0 checks and repairs the directory, then the others read it
        settings = check_settings(cfg, run_dir)  # before any work: never mix two runs in one directory
        try:
            setup = prepare(cfg, run_dir, in_sweep="job" in job)  # errors that need the data or model, before summary.json
        except (DataError, ModelDataMismatch) as err:
            raise RunError(str(err)) from err
        if run_dir.load_fingerprint() is None:
            run_dir.save_fingerprint(settings, fingerprint.digest(settings))
    summary = Summary(run_dir, {**run_info(cfg), **job, "threads": torch.get_num_threads(), **distributed.describe()})
    try:
        interrupts.check(" before round 0")
        if branches.is_branch(cfg):  # a control off an existing run (branches/)
            objective, stopped_by, reason = run_branch(cfg, run_dir, summary, setup)
        else:
            objective, stopped_by, reason = run_rounds(cfg, run_dir, summary, setup)
        summary.info.update(stopped_by=stopped_by, stop_reason=reason)
        if cfg.verify.enabled:
            summary.info["verification"] = verify(cfg, run_dir, setup, summary.rounds)
    except NonFiniteLossError as err:
        summary.finish("failed", error=str(err))
        raise RunError(str(err)) from err
    except BaseException as err:
        # Lightning turns a SIGTERM during validation into its own exception: the noted signal decides.
        if interrupts.received is not None:
            stop = err if isinstance(err, interrupts.Interrupted) else interrupts.Interrupted(interrupts.received)
            summary.finish("interrupted", signal=stop.name, error=str(stop))
            raise stop from None
        cause = distributed.explain(err)  # a collective broken by another rank's failure: that rank's error
        summary.finish("failed", error=f"{type(cause).__name__}: {cause}")
        if cause is not err:
            raise cause from err
        raise
    summary.finish("completed")
    if run_dir.writer:
        hparams.write(run_dir.hparams_tensorboard, cfg, job.get("job", {}).get("swept", {}), summary.rounds[-1])
    print("\n" + format_table(summary.rounds))
    print(f"\nStopped {reason}")
    if "verification" in summary.info:
        print(format_verification(summary.info["verification"]))
    print(f"\nRun directory: {run_dir.root}\nCurves: tensorboard --logdir {run_dir.tensorboard}")
    return {"objective": objective, "summary": summary.data}


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


def prepare(cfg: DictConfig, run_dir: RunDir, in_sweep: bool = False) -> Setup:
    """Load the data and build the network; check what the config alone cannot.
    `in_sweep`: a job of `rlth-run -m`, where `eval_every_n_steps: auto` turns the validation grid on."""
    hardware.check(cfg.hardware)  # a device this machine lacks: one line, before any data is loaded
    quiet_lightning()
    threads, why = distributed.threads_per_rank(cfg.hardware)
    if threads:
        torch.set_num_threads(threads)
    log.info("Torch threads: %d (%s)", torch.get_num_threads(), why)
    pl.seed_everything(seeds.derive(cfg.seed, "init"), verbose=False)

    data = load_dataset(cfg.dataset, cfg.paths.data_dir, cfg.hardware)
    if cfg.analysis.instability.enabled and data.task != "classification":
        raise ConfigError(f"analysis.instability.enabled=true needs classification data: dataset={cfg.dataset.name} is {data.task}, "
                          "and the instability barrier is measured in classification error")
    net = build_model(cfg.model, data)
    policy = policies.build(cfg.policy, policies.PolicyContext(run_dir, cfg.seed, cfg.pruner, lambda: build_model(cfg.model, data), cfg.model.name))
    batches = len(TensorBatches(*data.train, cfg.train.batch_size, **distributed.shard()))
    policy.prepare(net, cfg.train, batches)
    fixed = budget.fixed_length(cfg.train, batches)
    check_fits(cfg.train, fixed, f"train.epochs={cfg.train.epochs} x {batches} batches, train.max_steps={cfg.train.max_steps}")
    # Patterns are checked against the network as it will be by the last round:
    # a growing one may start without the layers they name (zero blocks).
    pruners.check_layers(policy.final_form(net, cfg.rounds), cfg.pruner, cfg.model.name, cfg.rounds)
    pruners.attach_masks(net, cfg.pruner)
    if run_dir.has_init() and (problem := run_dir.init_damage()):
        # The initialisation is a function of the seed: the network just built is it.
        log.warning("%s; moved it to %s and wrote it again from seed=%d", problem, run_dir.move_aside(run_dir.init_path), cfg.seed)
    if not run_dir.has_init():
        run_dir.save_init(net.state_dict())

    eval_batch = max(cfg.train.batch_size, 1024)
    # The grid's spacing comes from the fixed round length, so that rounds of any budget are sampled alike.
    return Setup(data, net, policy, TensorBatches(*data.val, eval_batch), TensorBatches(*data.test, eval_batch), measures.kept_weights(net),
                 grid_every(cfg.train.eval_every_n_steps, fixed, in_sweep), fixed, flops.macs_per_example(net, data.input_shape))


def run_rounds(cfg: DictConfig, run_dir: RunDir, summary: Summary, setup: Setup) -> tuple[float | None, str, str]:
    net, policy, p = setup.net, setup.policy, cfg.pruner
    pruner_seed = p.seed if p.get("seed") is not None else cfg.seed
    round_writer = run_dir.summary_writer()

    objective, resume_from = None, None
    stopped_by, reason = "max_rounds", f"after round {cfg.rounds - 1}: rounds={cfg.rounds} done"
    for k in range(cfg.rounds):
        interrupts.check(f" before round {k}")
        done, resume = find_round(run_dir, k)
        if done:
            record, resume_from = run_dir.load_record(k), k
            summary.add_round(record)
            log.info("Round %d already done, skipping (%s)", k, run_dir.round_dir(k))
        else:
            if resume_from is not None:  # the last finished round's network, regrown first
                checkpoints.restore(net, run_dir.load_weights(resume_from), run_dir.load_arch(resume_from))
                resume_from = None

            removed = 0
            if k > 0:
                removed = sum(pruners.prune(net, p, k, cfg.rounds, pruner_seed).values())
                if change := policy.apply(net, k):
                    log.info("Round %d: %s, now %d hidden layers", k, change, growth.depth(net))
                pruners.attach_masks(net, p)  # layers a policy added
            log.info("Round %d/%d: pruned %s weights, %.2f%% of prunable weights remain", k, cfg.rounds - 1, f"{removed:,}", 100 * masks.density(net))
            record, path = train_round(cfg, run_dir, setup, k, seeds.derive(cfg.seed, "train", k), policy.callbacks(k), resume,
                                       dense=summary.rounds[0] if k else None)
            record.pruned = removed
            finish_round(cfg, run_dir, setup, record, path, summary)
        log_round(round_writer, record)
        objective = record.objective(cfg.get("optimized_metric"))

        verdict = distributed.from_rank_zero(stopping.check(cfg.stop, summary.rounds[0], record))  # every rank stops together
        if verdict is not None:
            stopped_by, reason = verdict
            log.info("Stopping %s", reason)
            break
    # The printed table, as text in the summary run (a code block keeps its columns).
    round_writer.add_text("rounds/table", "```\n" + format_table(summary.rounds) + "\n```", summary.rounds[-1].round)
    round_writer.close()
    return objective, stopped_by, reason


def verify(cfg: DictConfig, run_dir: RunDir, setup: Setup, rounds: list[RoundRecord]) -> dict:
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
        checkpoints.restore(setup.net, start, run_dir.load_arch(k))
        seed = cfg.verify.seed if cfg.verify.seed is not None else seeds.derive(cfg.seed, "verify")
        log.info("Verifying round %d's subnetwork: retraining it from its starting point (batch seed %d)", k, seed)
        run_dir.start_verification(k)
        record = fit(cfg, setup, k, run_dir.tensorboard_location(k, "verification"), seed)
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
