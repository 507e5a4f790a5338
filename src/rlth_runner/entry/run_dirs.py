"""The Hydra callback of conf/hydra/run_dirs.yaml: before Hydra makes the run
(or sweep) directory, the command checks what the config alone decides
(a key added with `+` that rlth-run never reads, config/known_keys.py; every
value of a run, config/checks.py) and claims the directory (invocation.py
says why), so a bad input writes nothing at all."""

from __future__ import annotations

import os
from pathlib import Path

from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from ..cluster import sweep_stop, sweeps
from ..config import ConfigError, known_keys, validate
from ..lottery import branches
from .errors import exit_with
from .invocation import Invocation


class RunDirCheck(Callback):
    """Hydra turns a callback's exception into a warning, so a failed check or claim exits here."""

    def __init__(self):
        self.invocation = Invocation.current()

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        # A branch's values are its parent's, settled in the job (lottery/branches/): checked there.
        self._check(config, values=not branches.is_branch(config))
        self._claim(config, "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        self._check(config, values=False)  # each job's values are checked in the job: a failed cell does not sink the sweep
        self._claim(config, "hydra.sweep.dir")
        self.invocation.sweep_dir = Path(os.path.abspath(str(config.hydra.sweep.dir)))
        self.invocation.keep_sweep_record(self.invocation.sweep_dir)
        sweeps.announce(config)
        sweep_stop.install(self.invocation.sweep_dir, sweeps.sweep_id())  # a signal to this process stops the whole sweep

    def _check(self, config: DictConfig, values: bool) -> None:
        try:
            known_keys.check(config.hydra.overrides.task, GlobalHydra.instance().config_loader().repository, config.hydra.job.config_name)
            if values:
                HydraConfig.instance().set_config(config)  # what a `${hydra:...}` in a value reads
                validate(config)
        except ConfigError as err:
            exit_with(str(err), 2, self.invocation.debug)

    def _claim(self, config: DictConfig, key: str) -> None:
        try:
            self.invocation.claim(config, key)
        except ConfigError as err:
            exit_with(str(err), 2, self.invocation.debug)
