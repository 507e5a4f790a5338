"""`branch.from=` as users type it: `rlth-run` rewrites the argument before Hydra parses it.

* A sweep's job directory is named `<n>_<key>=<value>,...` (cluster/sweeps.py), which Hydra's
  override grammar cannot read unquoted (`=` and `,` are its own). The value is split at a comma
  only where the pieces are existing directories, and a path with such characters is quoted, so
  `branch.from=outputs/multirun/.../0_seed=0`, as the tool printed it, names that job.
* A sweep directory (one Hydra wrote multirun.yaml to) stands for every job in it that completed:
  the command becomes one sweep (`--multirun`) with one job per parent.

A value Hydra's grammar reads as something else (quoted, a list, a sweep function such as
`glob(...)`, an interpolation) is left as typed. Torch-free.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from ..config import ConfigError
from ..storage import scan
from .command import MULTIRUN_FLAGS

ARG = re.compile(r"(\+{0,2})branch\.from=(.*)", re.S)
GRAMMAR = re.compile(r"""['"\[{$]|\w+\(""")  # what Hydra reads as a quoted string, a list or dict, an interpolation, a function
PLAIN = re.compile(r"[\w/\\+.$%*@?|:-]*")  # what Hydra's grammar takes unquoted in a value


def as_typed(argv: list[str]) -> list[str]:
    """`argv` with every `branch.from=` value made readable by Hydra (see the module's docstring)."""
    out, sweep = [], False
    for arg in argv:
        match = ARG.fullmatch(arg)
        if match is None or GRAMMAR.match(match.group(2)):
            out.append(arg)
            continue
        parents = []
        for path in _paths(match.group(2)):
            jobs = scan.finished_jobs(os.path.expanduser(path), as_named=path)
            if jobs is None:
                parents.append(path)
                continue
            if not jobs:
                raise ConfigError(f"branch.from={path} is a sweep directory with no completed job to branch from")
            print(f"rlth-run: branch.from={path} is a sweep: one job per completed job in it ({len(jobs)})", file=sys.stderr)
            parents += jobs
            sweep = True
        out.append(f"{match.group(1)}branch.from={','.join(map(_quoted, parents))}")
    if sweep and not any(arg in MULTIRUN_FLAGS for arg in out):
        out.insert(0, MULTIRUN_FLAGS[1])
    return out


def _paths(value: str) -> list[str]:
    """`value` split at the commas that separate existing directories (the longest first); a piece
    that names none stays as typed, for the branch's own check to report."""
    parts, paths, i = value.split(","), [], 0
    while i < len(parts):
        j = next((j for j in range(len(parts), i, -1) if os.path.isdir(os.path.expanduser(",".join(parts[i:j])))), None)
        if j is None:
            return paths + [",".join(parts[i:])] if paths else [value]
        paths.append(",".join(parts[i:j]))
        i = j
    return paths


def _quoted(path: str) -> str:
    if PLAIN.fullmatch(path):
        return path
    quote = "'" if "'" not in path else '"'
    return f"{quote}{path}{quote}"
