"""Shared fixtures: compose the real config, and run the real CLI in tmp_path."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from rlth_runner.entry.conf import CONFIG_DIR, register_resolvers

register_resolvers()  # conf/ names them; the entry point registers them the same way before composing

# Small enough for a CPU test, big enough to train: digits, 1 hidden layer.
FAST = ["train.epochs=1", "train.max_steps=8", "train.log_every_n_steps=2", "model.width=32"]


@pytest.fixture
def make_cfg(tmp_path):
    """Compose conf/config.yaml with overrides, writing to tmp_path/run."""

    def _make(*overrides: str, out: Path | None = None):
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            return compose(config_name="config", overrides=[*FAST, f"paths.output_dir={out or tmp_path / 'run'}", *overrides])

    return _make


def lottery_run(root: Path, *overrides: str) -> Path:
    """A finished lottery run in `root` (in process), with the config copy Hydra would have saved: a parent for branches."""
    from omegaconf import OmegaConf

    from rlth_runner.run.runner import run

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*FAST, f"paths.output_dir={root}", *overrides])
    run(cfg)
    (root / ".hydra").mkdir()
    OmegaConf.save(cfg, root / ".hydra" / "config.yaml")
    return root


def rlth_run(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """The installed console script, as a user would call it."""
    exe = Path(sys.executable).with_name("rlth-run")
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    proc = subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"rlth-run {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Wait until a running `rlth-run` has written `path` (it must not exit first)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.002)


def all_scalars(out: Path) -> dict:
    """Every TensorBoard scalar series of a run, by `<run>/<tag>`: what resumed-equals-uninterrupted tests compare."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    series = {}
    for events in sorted((out / "tensorboard").iterdir()):
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0})
        acc.Reload()
        series.update({f"{events.name}/{t}": [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]})
    return series


class Killed(BaseException):
    """What `kill_after_checkpoint` raises: as if the process were SIGKILLed there."""


def kill_after_checkpoint(monkeypatch, version: str, epoch: int = 0) -> None:
    """Stop the next run right after round `version`'s checkpoint at the end of `epoch`
    (0-based), with more of the round to go; `monkeypatch.undo()` lets a re-run resume."""
    from rlth_runner.training.round_checkpoint import RoundCheckpoint

    save = RoundCheckpoint.on_train_epoch_end

    def killed(self, trainer, pl_module):
        save(self, trainer, pl_module)
        if trainer.current_epoch == epoch and trainer.logger.version == version:
            raise Killed

    monkeypatch.setattr(RoundCheckpoint, "on_train_epoch_end", killed)
