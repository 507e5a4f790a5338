"""The text of a run's `.hydra/config.yaml` as Hydra wrote it, made again from the
run's own saved command: what run/config_copy.py restores a damaged copy from."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import yaml
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict

from ..storage.layout import HYDRA_DIR, RunLayout


def saved_config(run_dir: str | Path, settled: DictConfig | None = None) -> Callable[[], str | None]:
    """A function giving the copy's text (None without a saved command). `settled`: a branch's config,
    which is what its copy holds (jobs.save_settled), not what its command composes."""

    def text() -> str | None:
        if settled is not None:
            return OmegaConf.to_yaml(settled)
        _, hydra_path, overrides_path = RunLayout(run_dir).hydra_files(HYDRA_DIR)
        if not overrides_path.is_file():
            return None
        overrides = [str(o) for o in yaml.safe_load(overrides_path.read_text()) or []]
        hydra = (yaml.safe_load(hydra_path.read_text()) or {}).get("hydra", {}) if hydra_path.is_file() else {}
        name = (hydra.get("job") or {}).get("config_name") or "config"
        # the search path is this command's: conf/ and its --config-dir (rlth-run resume= repeats the run's)
        cfg = GlobalHydra.instance().config_loader().load_configuration(config_name=name, overrides=overrides, run_mode=RunMode.RUN)
        with open_dict(cfg):
            del cfg["hydra"]  # as Hydra's run_job leaves the job's config
        return OmegaConf.to_yaml(cfg)

    return text
