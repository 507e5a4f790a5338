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
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

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
        if branches.is_branch(config):  # a parent no branch can take: nothing is written in it, not even the branch's directory
            self._check_branch(lambda: branches.settle(config, list(config.hydra.overrides.task)))
        self._claim(config, "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        self._check(config, values=False)  # each job's values are checked in the job: a failed cell does not sink the sweep
        self._check_branch(lambda: self._check_parents(config))
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

    def _check_branch(self, check) -> None:
        try:
            check()
        except ConfigError as err:
            exit_with(str(err), 2, self.invocation.debug)

    @staticmethod
    def _check_parents(config: DictConfig) -> None:
        """Every parent a branch sweep names, before any job makes its branch directory in one."""
        parsed = OverridesParser.create().parse_overrides(list(config.hydra.overrides.task))
        given = {o.key_or_group.lstrip("+~"): o for o in parsed}
        source = given.get("branch.from")
        if source is None:
            return
        rounds = None if "branch.rounds" in given and given["branch.rounds"].is_sweep_override() else OmegaConf.select(config, "branch.rounds")
        try:
            parents = [getattr(p, "text", p) for p in source.sweep_iterator()] if source.is_sweep_override() else [source.value()]
        except Exception:  # noqa: BLE001 - a glob or an interval: each job checks its own parent
            return
        for parent in parents:
            branches.check_parent(str(parent), config, rounds)

    def _claim(self, config: DictConfig, key: str) -> None:
        try:
            self.invocation.claim(config, key)
        except ConfigError as err:
            exit_with(str(err), 2, self.invocation.debug)
