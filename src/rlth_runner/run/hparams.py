"""TensorBoard's HPARAMS tab: one row per run, with its settings and its last
round's results, so the jobs of a sweep opened with `tensorboard --logdir
<sweep>` compare side by side, and filter and sort by any swept key."""

from __future__ import annotations

import shutil

from omegaconf import DictConfig, OmegaConf

from ..config import run_info
from ..record import HPARAM, RoundRecord

# Shown for every run, besides its description (config.run_info); a sweep adds the keys it varies.
SETTINGS = ("pruner.sparsity", "rounds")
METRICS = RoundRecord.shown_in(HPARAM)


def settings(cfg: DictConfig, swept: dict[str, str]) -> dict:
    values = {**run_info(cfg), **{key: OmegaConf.select(cfg, key) for key in SETTINGS}}
    for key, written in swept.items():
        value = OmegaConf.select(cfg, key.removeprefix("+"), default=None)
        values[key] = written if value is None or OmegaConf.is_config(value) else value  # a group: its option's name
    return {key: value if isinstance(value, (bool, int, float, str)) else str(value) for key, value in values.items()}


def write(log_dir, cfg: DictConfig, swept: dict[str, str], last: RoundRecord) -> None:
    """A run of its own, written anew by each invocation that completes, so it holds one row."""
    from torch.utils.tensorboard import SummaryWriter
    from torch.utils.tensorboard.summary import hparams

    shutil.rmtree(log_dir, ignore_errors=True)
    metrics = {f"final/{m}": float(getattr(last, m)) for m in METRICS if getattr(last, m) is not None}
    with SummaryWriter(str(log_dir)) as writer:
        for event in hparams(settings(cfg, swept), metrics):
            writer.file_writer.add_summary(event)
        for tag, value in metrics.items():
            writer.add_scalar(tag, value, last.round)
