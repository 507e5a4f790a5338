"""`rlth-run`: the Hydra entry point.

Kept thin and free of torch imports: the config is composed and checked
before the (slow) import of torch and Lightning, so `--help` and config
errors answer at once.

Errors. A bad input ends the command with exit code 2 and one line,
`rlth-run: error: <key>=<value> ...`: a value (config/), a config file that
does not parse or lacks `_target_`, an unknown key or option, a run directory
that cannot be created or written, hardware this machine lacks. A run that
stops for another reason it can name (missing data, a NaN loss) exits 1 with
one line; one stopped by a signal exits 128 + its number (interrupts.py).
Until the job starts, Hydra is told to raise instead of printing
(HYDRA_FULL_ERROR), so that `main` can report; an error nobody reports is a
bug, and prints its traceback. RLTH_DEBUG=1 (or HYDRA_FULL_ERROR=1) prints
the traceback before the one line too.

Run directories (conf/hydra/run_dirs.yaml).
* `RunDirCheck` creates the run (or sweep) directory before Hydra does, so
  one that cannot be created or written is a one-line error, and notes what
  existed before.
* A command that fails before writing any result removes what it added: the
  whole directory if it created it, else its copy of the config and a log it
  created. A directory with results is never removed.
* Hydra's copy of the config goes to `.hydra/`, or to
  `.hydra/invocations/<time>/` when `.hydra/` holds an earlier invocation's
  (`hydra_subdir`), so re-running in a run directory never overwrites the
  config the run was made with.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import hydra
import yaml
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.errors import CompactHydraException, InstantiationException, MissingConfigException
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ..cluster import sweeps
from ..config import ConfigError, run_info, validate
from ..lottery import branches

# An absolute path works both from a source checkout (conf/ is linked into the
# package) and from an installed wheel, which carries conf/ as package data.
CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "conf")

DEBUG_ENV = "RLTH_DEBUG"  # =1: the traceback before the one-line error
HYDRA_FILES = ("config.yaml", "hydra.yaml", "overrides.yaml")  # what Hydra writes to its output_subdir
INVOCATIONS = ".hydra/invocations"


@dataclass
class Invocation:
    """What this command found and did in the file system."""

    started_ns: int = field(default_factory=time.time_ns)
    debug: bool = False
    user_hydra_full_error: str | None = None  # HYDRA_FULL_ERROR as the user set it
    created: list[Path] = field(default_factory=list)  # the topmost directory of each chain this command made
    found: dict[Path, frozenset[str]] = field(default_factory=dict)  # an existing run or sweep directory: what it held
    subdirs: dict[str, str] = field(default_factory=dict)  # run directory -> where Hydra's copy of the config goes
    sweep_dir: Path | None = None  # set once a sweep (-m) starts its jobs

    def created_here(self, path: Path) -> bool:
        """Whether this command made `path` (or a directory above it)."""
        if any(path == top or top in path.parents for top in self.created):
            return True
        for directory, names in self.found.items():
            if directory in path.parents:
                return path.relative_to(directory).parts[0] not in names
        return False


invocation = Invocation()


def main() -> None:
    """The `rlth-run` console script."""
    global invocation
    user_setting = os.environ.get("HYDRA_FULL_ERROR")
    invocation = Invocation(debug=os.environ.get(DEBUG_ENV) == "1" or user_setting == "1", user_hydra_full_error=user_setting)
    os.environ["HYDRA_FULL_ERROR"] = "1"  # until the job starts, Hydra raises what it would print, and main() reports it
    try:
        _hydra_main()
    except BaseException as err:  # noqa: BLE001 - what is not a bad input or a sweep's failed job is raised again
        if invocation.sweep_dir is not None and report_sweep(invocation.sweep_dir) and not isinstance(err, SystemExit):
            sys.exit(1)  # the tally names the failed jobs and their reasons
        message = bad_input(err) if isinstance(err, Exception) else None
        if message is None:
            raise
        if invocation.sweep_dir is not None:  # a cell of the grid that does not compose: Hydra checks them all first
            _remove_empty(invocation.sweep_dir)
        _exit(message, 2)
    finally:
        _restore_hydra_full_error()
    if invocation.sweep_dir is not None and report_sweep(invocation.sweep_dir):
        sys.exit(1)


def _restore_hydra_full_error() -> None:
    if invocation.user_hydra_full_error is None:
        os.environ.pop("HYDRA_FULL_ERROR", None)
    else:
        os.environ["HYDRA_FULL_ERROR"] = invocation.user_hydra_full_error


class JobFailed(RuntimeError):
    """A sweep's job stopped for a reason it recorded in its summary.json; Hydra
    marks the job failed and the sweep goes on (main prints the tally)."""


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def _hydra_main(cfg: DictConfig) -> float | None:
    in_sweep = HydraConfig.get().mode == RunMode.MULTIRUN
    # The job, and any process it starts, sees the user's environment; an error
    # it does not report itself is then printed by Hydra, as any program's bug.
    _restore_hydra_full_error()
    try:
        return _job(cfg, job_info(HydraConfig.get()), in_sweep)
    except Exception as err:
        if in_sweep and not isinstance(err, JobFailed):
            traceback.print_exc()  # a bug: its traceback goes to this job's output, the tally counts it
            _record_failure(cfg, f"{type(err).__name__}: {err}", keep=True)
        raise
    finally:
        if in_sweep:  # Hydra raises a failed job's error to main(), which prints the sweep's tally
            os.environ["HYDRA_FULL_ERROR"] = "1"


def _job(cfg: DictConfig, job: dict, in_sweep: bool) -> float | None:
    sweep_job = cfg if in_sweep else None
    try:
        if branches.is_branch(cfg):  # the parent's settings, not the defaults the command composed
            cfg = branches.settle(cfg, job["overrides"])
            _save_settled(cfg)
            if in_sweep:
                _link_branch_job()
        validate(cfg)
    except ConfigError as err:
        _fail(err, 2, sweep_job=sweep_job)

    from ..run import interrupts
    from ..run.runner import RunError, run

    try:
        return run(cfg, job)["objective"]
    except interrupts.Interrupted as err:  # SIGTERM, SIGUSR1, Ctrl-C: summary.json says `interrupted`; a re-run continues
        print(f"rlth-run: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    except ConfigError as err:  # found once the data and model exist, still before training
        _fail(err, 2, sweep_job=sweep_job)
    except RunError as err:  # a bad `dataset.*` value found by the loader is still a bad input
        _fail(err, 2 if isinstance(err.__cause__, ConfigError) else 1, sweep_job=sweep_job)
    except InstantiationException as err:  # a dataset or model file whose _target_ cannot be imported or take its keys
        _fail(err, 2, hydra_line(err), sweep_job=sweep_job)


def job_info(hc) -> dict:
    """What summary.json records about the command: its overrides and, in a sweep, the job."""
    overrides = [str(o) for o in hc.overrides.task]
    info: dict = {"overrides": overrides}
    if hc.mode == RunMode.MULTIRUN:
        info["job"] = {"num": hc.job.num, "dir": Path(hc.runtime.output_dir).name, "swept": sweeps.swept_values(overrides)}
    return info


def _fail(err: Exception, code: int, message: str | None = None, sweep_job: DictConfig | None = None) -> None:
    """Exit with the one line; a sweep's job (`sweep_job`: its config) records it and lets the sweep go on."""
    message = message or str(err)
    if sweep_job is not None:
        print(f"rlth-run: error: {Path(HydraConfig.get().runtime.output_dir).name}: {' '.join(message.split())}", file=sys.stderr)
        _record_failure(sweep_job, message)
        raise JobFailed(message) from None
    clean_up()
    _exit(message, code)


def _record_failure(cfg: DictConfig | None, message: str, keep: bool = False) -> None:
    """summary.json `status: failed` with the reason, unless the run already wrote its own
    (`keep`: the runner records the errors it sees once summary.json exists)."""
    from ..storage.rundir import RunDir
    from ..run.summary import record_failure

    hc = HydraConfig.get()
    run_dir = RunDir(hc.runtime.output_dir)
    before = run_dir.load_summary()
    if keep and before is not None and before.get("status") != "running":
        return
    try:
        info = run_info(cfg) if cfg is not None else {}
    except Exception:  # noqa: BLE001 - a config too broken to describe: the overrides say what it was
        info = {}
    record_failure(run_dir, {**info, **job_info(hc)}, message)


def _exit(message: str, code: int) -> None:
    """Print the one line and exit; with RLTH_DEBUG=1, the traceback of the error being handled first."""
    if invocation.debug and sys.exc_info()[1] is not None:
        traceback.print_exc()
    print(f"rlth-run: error: {' '.join(message.split())}", file=sys.stderr)
    sys.exit(code)


def report_sweep(sweep_dir: Path) -> bool:
    """Print how this command's sweep jobs ended; whether any failed."""
    from ..storage.scan import job_summaries

    tally = sweeps.tally(job_summaries(sweep_dir, since_ns=invocation.started_ns))
    if not (tally.completed or tally.failed or tally.unfinished):
        return False
    print("\n" + "\n".join(tally.lines(sweep_dir)), file=sys.stderr if tally.failed else sys.stdout)
    return bool(tally.failed or tally.unfinished)


# ---------------------------------------------------------------- errors found before the run starts
def bad_input(err: BaseException) -> str | None:
    """The one line for an error that a bad input caused; None for any other error."""
    if isinstance(err, ConfigError):
        return str(err)
    if isinstance(err, yaml.YAMLError):
        return yaml_line(err)
    if isinstance(err, CompactHydraException):  # unknown key or option, bad override, missing --config-dir
        return hydra_line(err)
    if isinstance(err, ValueError) and _raised_by(err, "_run_hydra"):  # flags that do not go together, e.g. --resolve alone
        return str(err)
    return None


def _raised_by(err: BaseException, function: str) -> bool:
    """Whether `function` itself raised `err` (the innermost frame of its traceback)."""
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code.co_name == function


def yaml_line(err: yaml.YAMLError) -> str:
    """`<file> is not valid YAML: <problem> at line L, column C (<context> at ...)`."""
    at = lambda mark: f"line {mark.line + 1}, column {mark.column + 1}"  # noqa: E731
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    if mark is None:
        return f"a config file is not valid YAML: {' '.join(str(err).split())}"
    problem = getattr(err, "problem", None) or "cannot be read"
    line = f"{mark.name} is not valid YAML: {problem} at {at(mark)}"
    context, context_mark = getattr(err, "context", None), getattr(err, "context_mark", None)
    if context and context_mark is not None and context_mark is not mark:
        line += f" ({context} at {at(context_mark)})"
    return line


def hydra_line(err: CompactHydraException) -> str:
    """Hydra's message on one line: its lines joined, a list of options as a list."""
    if isinstance(err, MissingConfigException) and err.options and err.missing_cfg_file:
        group = err.missing_cfg_file.rpartition("/")[0]
        first = str(err).strip().splitlines()[0]
        return f"{first}; the options in '{group}' are: {', '.join(err.options)}"
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    keys = [line.removeprefix("full_key:").strip() for line in lines if line.startswith("full_key:")]
    lines = [line for line in lines if not line.startswith("full_key:")]
    cause = str(err.__cause__ or "").strip().splitlines()
    if isinstance(err, InstantiationException) and lines[0].startswith("Error locating target '") and keys:
        target = lines[0].split("'")[1]
        return f"{keys[0]}._target_={target} cannot be imported: {' '.join(line.strip() for line in cause[1:]) or lines[0]}"
    if isinstance(err.__cause__, OmegaConfBaseException) and cause:
        lines.append(f"({cause[0]})")  # OmegaConf's full_key/object_type lines say nothing more
    return (f"{keys[0]}: " if keys else "") + " ".join(lines)


# ---------------------------------------------------------------- run directories
class RunDirCheck(Callback):
    """Creates the run (or sweep) directory before Hydra does; see the module docstring.

    Hydra turns a callback's exception into a warning, so a failed check exits here."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        self._claim(config, "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        self._claim(config, "hydra.sweep.dir")
        invocation.sweep_dir = Path(os.path.abspath(str(config.hydra.sweep.dir)))
        sweeps.announce(config)

    @staticmethod
    def _claim(config: DictConfig, key: str) -> None:
        try:
            claim(config, key)
        except ConfigError as err:
            _exit(str(err), 2)


def claim(config: DictConfig, key: str) -> None:
    """Create the directory `key` names, noting what was there; ConfigError if it cannot be created or written."""
    HydraConfig.instance().set_config(config)  # what a `${hydra:...}` in the path reads (run_job sets it again)
    value = OmegaConf.select(config, key)
    path = Path(os.path.abspath(str(value)))
    base = path
    while not os.path.lexists(base):
        base = base.parent
    advice = "choose a directory you can write to"
    if not base.is_dir():
        what = "a file, not a directory" if base.is_file() else "not a directory"
        raise ConfigError(f"{key}={value} is {what}; {advice}" if base == path else
                          f"{key}={value} cannot be created: {base} is {what}; {advice}")
    if base != path:
        invocation.created.append(base / path.relative_to(base).parts[0])
    else:
        try:
            invocation.found[path] = frozenset(os.listdir(path))
        except OSError:
            pass  # unknown: nothing in it will count as this command's but its copy of the config
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        _remove_empty(path if path.exists() else path.parent)
        raise ConfigError(f"{key}={value} cannot be created in {base}: {err.strerror or err}; {advice}") from None
    if not writable(path):
        _remove_empty(path)
        raise ConfigError(f"{key}={value} is not writable: {advice}")


def writable(path: Path) -> bool:
    return os.access(path, os.W_OK | os.X_OK)


def hydra_subdir(output_dir: str) -> str | None:
    """Where Hydra writes its copy of the config, relative to the run directory:
    `.hydra`, unless an earlier invocation's copy is there, then `.hydra/invocations/<time>`.
    None (no copy) in a DDP rank other than 0 that SLURM or torchrun started
    through the command line: only rank 0 writes.

    Decided once per run directory and command: Hydra resolves it after making
    the directory and before writing the copy, and may ask again later."""
    if int(os.environ.get("SLURM_NTASKS", "1")) > 1 and int(os.environ.get("SLURM_PROCID", "0")) > 0 or int(os.environ.get("RANK", "0")) > 0:
        return None
    root = os.path.abspath(output_dir)
    if root not in invocation.subdirs:
        sub = ".hydra"
        if any((Path(root) / sub / name).exists() for name in HYDRA_FILES):
            stamp = _stamp()
            sub, n = f"{INVOCATIONS}/{stamp}", 1
            while (Path(root) / sub).exists():
                n += 1
                sub = f"{INVOCATIONS}/{stamp}_{n}"
        invocation.subdirs[root] = sub
    return invocation.subdirs[root]


def _save_settled(cfg: DictConfig) -> None:
    """Hydra's copy of a branch's config holds what the command composed; the
    branch runs with its parent's settings, so that is what the copy must say."""
    hc = HydraConfig.get()
    if hc.output_subdir is not None:
        OmegaConf.save(cfg, Path(hc.runtime.output_dir) / hc.output_subdir / "config.yaml")


def _link_branch_job() -> None:
    """A sweep's branch job runs in its parent's branches/; a link in the sweep
    directory, named as any job's, lets the tally and `tensorboard --logdir <sweep>` find it."""
    hc = HydraConfig.get()
    link = Path(hc.sweep.dir) / sweeps.job_dir(hc.job.num, hc.overrides.task)
    if not link.exists() and not link.is_symlink():
        link.symlink_to(Path(hc.runtime.output_dir).absolute(), target_is_directory=True)


def _stamp() -> str:
    return time.strftime("%Y-%m-%d_%H-%M-%S")


OmegaConf.register_new_resolver("rlth_hydra_subdir", hydra_subdir, replace=True)


def clean_up() -> None:
    """After a failure: remove what this command added to its run directory, if it wrote no result there.

    This command's copy of the config goes. In a directory it created, so do
    its log and hidden bookkeeping files (the runner's lock) and then the
    directory, once nothing else is left (a sweep directory left with only
    Hydra's multirun.yaml too); in one it found, only a log it created. A
    result is any other visible entry written since the command started: with
    one, nothing is removed.
    """
    try:
        hc = HydraConfig.get()
        out = Path(hc.runtime.output_dir)
        subdir = hc.output_subdir
        logs = {Path(h.filename) for h in (hc.job_logging or {}).get("handlers", {}).values() if h.get("filename")}
    except (ValueError, OmegaConfBaseException, AttributeError):  # no Hydra config: called outside a Hydra job
        return
    logs = {log for log in logs if log.parent == out}
    try:
        if not out.is_dir() or _holds_new_results(out, logs):
            return
        if subdir and out in (out / subdir).parents:
            for name in HYDRA_FILES:
                (out / subdir / name).unlink(missing_ok=True)
            _remove_empty(out / subdir, stop=out)
        if invocation.created_here(out):
            bookkeeping = lambda e: e in logs or (e.name.startswith(".") and e.is_file() and not e.is_symlink())  # noqa: E731
            left = list(out.iterdir())
            if all(bookkeeping(entry) for entry in left):  # else another command is using the directory too
                for entry in left:
                    entry.unlink()
                _remove_empty(out)
        elif out in invocation.found:
            for log in logs - {out / name for name in invocation.found[out]}:
                log.unlink(missing_ok=True)
    except OSError:
        pass  # best effort: the error being reported matters more


def _holds_new_results(out: Path, logs: set[Path]) -> bool:
    """Whether `out` has a visible entry (not a log) written since this command started."""
    for entry in out.iterdir():
        if not entry.name.startswith(".") and entry not in logs and entry.lstat().st_mtime_ns >= invocation.started_ns:
            return True
    return False


def _remove_empty(path: Path, stop: Path | None = None) -> None:
    """Remove `path` and the directories above it while they are empty and this command made
    them (up to `stop`, exclusive); a sweep directory holding only multirun.yaml counts as empty."""
    while path != stop and (stop is not None or invocation.created_here(path)):
        try:
            if stop is None and [p.name for p in path.iterdir()] == ["multirun.yaml"]:
                (path / "multirun.yaml").unlink()
            path.rmdir()
        except OSError:
            return
        path = path.parent


if __name__ == "__main__":
    from rlth_runner.entry.main import main as package_main  # one module, whose state the Hydra callback shares

    package_main()
