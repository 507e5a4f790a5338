"""The command that continues a run.

* `rlth-run resume=<run> [key=value ...]` runs a run's own command again in
  its directory: the overrides its newest invocation saved (`.hydra/`, or
  `.hydra/invocations/<time>/` after a re-run; storage/layout.py), its
  `--config-dir` if it had one, then the keys given beside `resume=` (which
  replace a saved key, e.g. `rounds=10` to extend it), and
  `hydra.run.dir=<run>`.
* `continue_command`: what the interrupt message prints, the command as typed
  with `hydra.run.dir` set to the run's absolute path (or, for a command with
  `resume=`, that command again), ready to copy.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import yaml

from ..config import ConfigError
from ..storage.layout import RunLayout

RESUME = "resume="
RUN_DIR = "hydra.run.dir="
MULTIRUN_FLAGS = ("-m", "--multirun")


def override_key(arg: str) -> str | None:
    """The key (or config group) an override sets; None for a flag or a flag's value."""
    if arg.startswith("-") or "=" not in arg:
        return None
    return arg.lstrip("+~").partition("=")[0].partition("@")[0]


def expand_resume(argv: list[str]) -> list[str]:
    """`argv` with `resume=<run>` replaced by the run's own command (see the module's docstring); ConfigError
    with one line for a directory that holds no run rlth-run made, or arguments that contradict it."""
    given = [arg for arg in argv if arg.startswith(RESUME)]
    if not given:
        return argv
    if len(given) > 1:
        raise ConfigError(f"{given[-1]}: resume= names one run directory; it is given {len(given)} times")
    value = given[0].removeprefix(RESUME)
    rest = [arg for arg in argv if arg is not given[0]]
    if any(arg in MULTIRUN_FLAGS for arg in rest):
        raise ConfigError(f"resume={value} continues one run, not a sweep: re-run the sweep's command with its hydra.sweep.dir instead")
    if any(arg.startswith(RUN_DIR) for arg in rest):
        raise ConfigError(f"resume={value} names the run directory: drop {next(a for a in rest if a.startswith(RUN_DIR))}")
    run = Path(os.path.abspath(os.path.expanduser(value)))
    saved = RunLayout(run).newest_command() if value else None
    if saved is None:
        raise ConfigError(f"resume={value}: no run there ({run} holds no command Hydra saved); give a run directory rlth-run made")
    overrides_path, hydra_path = saved
    try:
        overrides = [str(o) for o in yaml.safe_load(overrides_path.read_text()) or []]
        hydra = (yaml.safe_load(hydra_path.read_text()) or {}).get("hydra", {}) if hydra_path.is_file() else {}
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"resume={value}: {overrides_path} cannot be read ({err.__class__.__name__}); re-run the run's command "
                          f"with hydra.run.dir={run} instead") from None
    flags = []
    sources = (hydra.get("runtime") or {}).get("config_sources") or []
    for source in sources:
        if source.get("provider") == "command-line" and source.get("schema") == "file" and "--config-dir" not in rest and "-cd" not in rest:
            flags += ["--config-dir", str(source["path"])]
    name = (hydra.get("job") or {}).get("config_name")
    if name and name != "config" and not {"--config-name", "-cn"} & set(rest):
        flags += ["--config-name", str(name)]
    replaced = {override_key(arg) for arg in rest} - {None}
    kept = [o for o in overrides if override_key(o) not in replaced]
    return [*flags, *kept, *rest, f"{RUN_DIR}{run}"]


def continue_command(argv: list[str], run_dir: str | Path) -> str:
    """The command that continues the run in `run_dir`, started by `rlth-run <argv>` (as typed)."""
    run = os.path.abspath(run_dir)
    if any(arg.startswith(RESUME) for arg in argv):
        args = [f"{RESUME}{run}" if arg.startswith(RESUME) else arg for arg in argv]
    else:
        args = [arg for arg in argv if not arg.startswith(RUN_DIR)] + [f"{RUN_DIR}{run}"]
    return shlex.join(["rlth-run", *args])
