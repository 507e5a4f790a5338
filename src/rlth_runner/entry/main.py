"""`rlth-run`: the Hydra entry point.

Kept thin and free of torch imports: the config is composed and checked
before the (slow) import of torch and Lightning, so `--help` and config
errors answer at once.

Exit codes. A bad input ends the command with exit code 2 and one line,
`rlth-run: error: <key>=<value> ...` (errors.py): a value (config/), a model
dimension that makes no network, a key added with `+` that rlth-run never
reads, a config file that does not parse or lacks `_target_`, an unknown key
or option, a run directory that cannot be created or written or that another
process is using, hardware this machine lacks, data that is missing, a model
that does not fit the data, a write the disk refuses (full, over quota, read-only;
storage/disk.py), at any point. A run that stops for another reason it can name
(a NaN loss, a diverged loss with stop.on_divergence) exits 1 with one line;
one stopped by a signal exits 128 + its number (run/interrupts.py) and prints
the command that continues it (command.py); a sweep with a job that did not
complete exits 1 after its tally.
Until the job starts, Hydra is told to raise instead of printing
(HYDRA_FULL_ERROR), so that `main` can report; an error nobody reports is a
bug, and prints its traceback. RLTH_DEBUG=1 (or HYDRA_FULL_ERROR=1) prints
the traceback before the one line too.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from omegaconf import DictConfig

from ..cluster import sweep_stop, sweeps
from ..config import ConfigError, validate
from ..lottery import branches
from ..storage.scan import stopped
from ..storage import disk
from . import branch_from
from .command import continue_command, expand_resume
from .conf import CONFIG_DIR, register_resolvers
from .errors import bad_input, exit_with, hydra_line
from .invocation import Invocation
from .recompose import saved_config
from .jobs import JobFailed, job_info, job_name, link_branch_job, note_job, record_failure, report_sweep, save_settled

DEBUG_ENV = "RLTH_DEBUG"  # =1: the traceback before the one-line error


def main() -> None:
    """The `rlth-run` console script."""
    user_setting = os.environ.get("HYDRA_FULL_ERROR")
    invocation = Invocation(debug=os.environ.get(DEBUG_ENV) == "1" or user_setting == "1", user_hydra_full_error=user_setting,
                            argv=sys.argv[1:])
    try:
        sys.argv[1:] = expand_resume(sys.argv[1:])  # rlth-run resume=<run>: the run's own command (command.py)
        sys.argv[1:] = branch_from.as_typed(sys.argv[1:])  # a sweep job's directory, or a whole sweep, as typed
    except ConfigError as err:
        exit_with(str(err), 2, invocation.debug)
    register_resolvers(invocation)
    disk.quiet_refusals()
    os.environ["HYDRA_FULL_ERROR"] = "1"  # until the job starts, Hydra raises what it would print, and main() reports it
    with invocation.running():
        try:
            _hydra_main()
        except KeyboardInterrupt:  # Ctrl-C outside a run's own handler (composing, the tally): one line, no traceback
            print("rlth-run: interrupted by SIGINT", file=sys.stderr)
            sys.exit(128 + signal.SIGINT)
        except BaseException as err:  # noqa: BLE001 - what is not a bad input or a sweep's failed job is raised again
            sweep_dir = invocation.sweep_dir
            if sweep_dir is not None and report_sweep(sweep_dir, invocation.started_ns) and not isinstance(err, SystemExit):
                _end_sweep(1)  # the tally names the failed jobs and their reasons
            if isinstance(err, JobFailed):
                sys.exit(1)  # its job said why in one line
            message = bad_input(err) if isinstance(err, Exception) else None
            if message is None:
                raise
            if sweep_dir is not None:  # a cell of the grid that does not compose: Hydra checks them all first
                invocation.remove_empty(sweep_dir)
            elif disk.refusal(err) is not None:  # Hydra's copies of the config did not fit: no half copy stays
                invocation.clean_up()
            exit_with(message, 2, invocation.debug)
        finally:
            invocation.restore_hydra_full_error()
            invocation.drop_unchanged_sweep_record()
    if invocation.sweep_dir is not None and report_sweep(invocation.sweep_dir, invocation.started_ns):
        _end_sweep(1)


def _end_sweep(code: int) -> None:
    """A sweep's exit after its tally; stopped by a signal (cluster/sweep_stop.py), none of its processes outlive it."""
    if sweep_stop.received is not None:
        sweep_stop.reap()
        code = 128 + sweep_stop.received
    sys.exit(code)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def _hydra_main(cfg: DictConfig) -> float | None:
    invocation = Invocation.current()
    in_sweep = HydraConfig.get().mode == RunMode.MULTIRUN
    # The job, and any process it starts, sees the user's environment; an error
    # it does not report itself is then printed by Hydra, as any program's bug.
    invocation.restore_hydra_full_error()
    if in_sweep:
        if not sweep_stop.runs_here():
            from ..run import interrupts

            interrupts.listen()  # before the job is noted, which lets a signal to the sweep reach it
        if (sweep_id := sweeps.sweep_id()) and (reason := stopped(HydraConfig.get().sweep.dir, sweep_id)):
            _not_started(invocation, reason)
        note_job()  # this sweep's tally counts this job (cluster/sweeps.py)
    try:
        return _job(cfg, job_info(HydraConfig.get()), in_sweep, invocation)
    except Exception as err:
        if in_sweep and not isinstance(err, JobFailed):
            traceback.print_exc()  # a bug: its traceback goes to this job's output, the tally counts it
            record_failure(cfg, f"{type(err).__name__}: {err}", keep=True)
        raise
    finally:
        if in_sweep:  # Hydra raises a failed job's error to main(), which prints the sweep's tally
            os.environ["HYDRA_FULL_ERROR"] = "1"


def _job(cfg: DictConfig, job: dict, in_sweep: bool, invocation: Invocation) -> float | None:
    sweep_job, settled = cfg if in_sweep else None, None
    try:
        if branches.is_branch(cfg):  # the parent's settings, not the defaults the command composed
            cfg = settled = branches.settle(cfg, job["overrides"])
            save_settled(cfg)
            if in_sweep:
                link_branch_job()
        validate(cfg)
    except ConfigError as err:
        _fail(invocation, err, 2, sweep_job=sweep_job)

    from ..config.replicas import count
    from ..run import interrupts
    from ..run.replicas import run_job
    from ..run.runner import BadInput, RunDirInUse, RunError, run

    try:
        if count(cfg) > 1:  # replicas > 1: several seeds in one job
            return run_job(cfg, job)["objective"]
        return run(cfg, job, saved_config(HydraConfig.get().runtime.output_dir, settled))["objective"]
    except interrupts.Interrupted as err:  # SIGTERM, SIGUSR1, Ctrl-C: summary.json says `interrupted`; a re-run continues
        print(f"rlth-run: {_interrupted(err, invocation, in_sweep)}", file=sys.stderr)
        if in_sweep:  # the launcher goes on to the jobs left, which do not start; the sweep's exit says how it was stopped
            sweep_stop.stop_here(err.signum)  # under the basic launcher this process is the sweep's
            raise JobFailed(str(err)) from None
        sys.exit(err.exit_code)
    except ConfigError as err:  # before training: a value the data or model rule out (run/prepare.py's SetupError), other settings
        _fail(invocation, err, 2, sweep_job=sweep_job)
    except RunDirInUse as err:  # another process runs in this directory (in a sweep: a second sweep into it)
        if in_sweep:
            _refuse(invocation, str(err))
        _fail(invocation, err, 2, sweep_job=sweep_job, wrote_nothing=True)
    except BadInput as err:  # missing data, a model that cannot take the data: bad inputs, like a bad value
        _fail(invocation, err, 2, sweep_job=sweep_job)
    except RunError as err:  # a NaN loss, a rank that died
        _fail(invocation, err, 1, sweep_job=sweep_job)
    except InstantiationException as err:  # a dataset or model file whose _target_ cannot be imported or take its keys
        _fail(invocation, err, 2, hydra_line(err), sweep_job=sweep_job)


def _interrupted(err, invocation: Invocation, in_sweep: bool) -> str:
    """The line for a run stopped by a signal: how far it got, and the command that continues it."""
    what = str(err).partition(";")[0]  # "interrupted by SIGTERM at step 12"
    hc = HydraConfig.get()
    if in_sweep:
        return f"{what}; continue the sweep with its command and hydra.sweep.dir={os.path.abspath(hc.sweep.dir)}"
    run_dir = hc.runtime.output_dir
    return f"{what}; continue with: {continue_command(invocation.argv, run_dir)}  (or: rlth-run resume={os.path.abspath(run_dir)})"


def _refuse(invocation: Invocation, message: str) -> None:
    """A sweep's job that another process holds: one line, noted for the tally, nothing written in its directory."""
    print(f"rlth-run: {job_name(HydraConfig.get())}: not run: {' '.join(message.split())}", file=sys.stderr)
    note_job(refused=message)
    invocation.clean_up(wrote_nothing=True)
    raise JobFailed(message) from None


def _not_started(invocation: Invocation, reason: str) -> None:
    """A sweep's job handed out after the sweep was stopped: one line, noted for the tally, no directory left."""
    print(f"rlth-run: {job_name(HydraConfig.get())}: not started: {reason}", file=sys.stderr)
    note_job(not_started=reason)
    invocation.clean_up()
    raise JobFailed(reason) from None


def _fail(invocation: Invocation, err: Exception, code: int, message: str | None = None, sweep_job: DictConfig | None = None,
          wrote_nothing: bool = False) -> None:
    """Exit with the one line; a sweep's job (`sweep_job`: its config) records it and lets the sweep go on.
    `wrote_nothing`: the command stopped before writing anything in the run directory (it was in use)."""
    message = message or str(err)
    if sweep_job is not None:
        print(f"rlth-run: error: {Path(HydraConfig.get().runtime.output_dir).name}: {' '.join(message.split())}", file=sys.stderr)
        record_failure(sweep_job, message)
        raise JobFailed(message) from None
    invocation.clean_up(wrote_nothing=wrote_nothing)
    exit_with(message, code, invocation.debug)


if __name__ == "__main__":
    main()
