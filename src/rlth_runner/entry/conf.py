"""Where conf/ is, and the resolvers its keys name.

The resolvers are registered by a call, not as a side effect of an import:
the entry point registers them before Hydra composes, and so does anything
else that composes conf/ (tests/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from ..cluster import sweeps
from ..lottery import branches
from .invocation import Invocation

# An absolute path works both from a source checkout (conf/ is linked into the
# package) and from an installed wheel, which carries conf/ as package data.
CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "conf")


def register_resolvers(invocation: Invocation | None = None) -> None:
    """`rlth_run_dir` (a branch's own directory), `rlth_job_dir` (a sweep job's
    directory name) and `rlth_hydra_subdir` (where `invocation`, by default a new
    one, has Hydra copy the config)."""
    OmegaConf.register_new_resolver("rlth_run_dir", branches.run_dir, replace=True)
    OmegaConf.register_new_resolver("rlth_job_dir", sweeps.job_dir, replace=True)
    OmegaConf.register_new_resolver("rlth_hydra_subdir", (invocation or Invocation()).hydra_subdir, replace=True)
