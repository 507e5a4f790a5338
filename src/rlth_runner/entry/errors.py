"""The one line `rlth-run: error: ...` for an error a bad input caused, and the
exit that prints it. Any other error is a bug and keeps its traceback."""

from __future__ import annotations

import os
import sys
import traceback

import yaml
from hydra.errors import CompactHydraException, InstantiationException, MissingConfigException
from omegaconf.errors import OmegaConfBaseException

from ..config import ConfigError
from ..storage import disk


def exit_with(message: str, code: int, debug: bool = False) -> None:
    """Print the one line and exit; with `debug` (RLTH_DEBUG=1), the traceback of the error being handled first."""
    if debug and sys.exc_info()[1] is not None:
        traceback.print_exc()
    print(f"rlth-run: error: {' '.join(message.split())}", file=sys.stderr)
    sys.exit(code)


def bad_input(err: BaseException) -> str | None:
    """The one line for an error that a bad input caused; None for any other error."""
    if isinstance(err, ConfigError):
        return str(err)
    if (line := disk.line(err)) is not None:  # a file Hydra writes (its copies of the config, the log), on a full disk
        return line
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


def unknown_key_line(override: str) -> str | None:
    """`<key>=<value>: <key> is not a key rlth-run reads; did you mean <nearest>?` (config/known_keys.py), from
    conf/ and the command's --config-dir; None if they cannot be read."""
    from ..config import known_keys
    from .conf import CONFIG_DIR

    args, dirs = sys.argv[1:], [CONFIG_DIR]
    for i, arg in enumerate(args):
        if arg in ("--config-dir", "-cd") and i + 1 < len(args):
            dirs.insert(0, os.path.abspath(args[i + 1]))
        elif arg.startswith("--config-dir="):
            dirs.insert(0, os.path.abspath(arg.partition("=")[2]))
    try:
        return known_keys.unknown_key_line(override, known_keys.repository_of(dirs))
    except Exception:  # noqa: BLE001 - best effort: Hydra's own line stays
        return None


def hydra_line(err: CompactHydraException) -> str:
    """Hydra's message on one line: its lines joined, a list of options as a list."""
    if isinstance(err, MissingConfigException) and err.options and err.missing_cfg_file:
        group = err.missing_cfg_file.rpartition("/")[0]
        first = str(err).strip().splitlines()[0]
        return f"{first}; the options in '{group}' are: {', '.join(err.options)}"
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("Could not override '") and lines[1].startswith("To append to your config use +"):
        # Hydra advises adding the key with +, which rlth-run refuses for a key it never reads: name the real one instead
        if (line := unknown_key_line(lines[1].removeprefix("To append to your config use +"))) is not None:
            return line
    keys = [line.removeprefix("full_key:").strip() for line in lines if line.startswith("full_key:")]
    lines = [line for line in lines if not line.startswith("full_key:")]
    cause = str(err.__cause__ or "").strip().splitlines()
    if isinstance(err, InstantiationException) and lines[0].startswith("Error locating target '") and keys:
        target = lines[0].split("'")[1]
        return f"{keys[0]}._target_={target} cannot be imported: {' '.join(line.strip() for line in cause[1:]) or lines[0]}"
    if isinstance(err.__cause__, OmegaConfBaseException) and cause:
        lines.append(f"({cause[0]})")  # OmegaConf's full_key/object_type lines say nothing more
    return (f"{keys[0]}: " if keys else "") + " ".join(lines)
