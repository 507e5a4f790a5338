"""The Hydra callback of conf/hydra/run_dirs.yaml: the command claims its run
(or sweep) directory before Hydra makes it (invocation.py says why)."""

from __future__ import annotations

import os
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from ..cluster import sweeps
from ..config import ConfigError
from .errors import exit_with
from .invocation import Invocation


class RunDirCheck(Callback):
    """Hydra turns a callback's exception into a warning, so a failed claim exits here."""

    def __init__(self):
        self.invocation = Invocation.current()

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        self._claim(config, "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        self._claim(config, "hydra.sweep.dir")
        self.invocation.sweep_dir = Path(os.path.abspath(str(config.hydra.sweep.dir)))
        sweeps.announce(config)

    def _claim(self, config: DictConfig, key: str) -> None:
        try:
            self.invocation.claim(config, key)
        except ConfigError as err:
            exit_with(str(err), 2, self.invocation.debug)
