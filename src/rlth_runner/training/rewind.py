"""Capturing the weights that `policy=rewind` goes back to.

Round 0 saves the network's state at its rewind step to <run>/rewind.pt, so a
resumed run (or one that is stopped after round 0) still has it.
"""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch

from ..store import save_tensor_file

FILE = "rewind.pt"


def step_of(policy_cfg, batches_per_epoch: int) -> int:
    """The optimizer step to capture: `policy.epoch` (if set) epochs in, else `policy.step`."""
    if policy_cfg.get("epoch") is not None:
        return policy_cfg.epoch * batches_per_epoch
    return policy_cfg.step


def round_length(train_cfg, batches_per_epoch: int) -> int:
    """Optimizer steps one round takes: epochs x batches, capped by max_steps."""
    steps = train_cfg.epochs * batches_per_epoch
    return min(steps, train_cfg.max_steps) if train_cfg.max_steps else steps


def save(root: Path, step: int, state: dict) -> None:
    save_tensor_file(Path(root) / FILE, {"step": step, "state": {k: v.detach().cpu().clone() for k, v in state.items()}})


def load(root: Path) -> dict:
    path = Path(root) / FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: round 0 was trained without policy=rewind; start a new run directory")
    return torch.load(path, map_location="cpu", weights_only=True)


class RewindCapture(pl.Callback):
    """Save the network at optimizer step `step` of this fit (0: before the first step).

    Registered after EnforceMasks, so the saved weights are already masked.
    """

    def __init__(self, root: Path, step: int):
        self.root, self.step = Path(root), step

    def on_train_start(self, trainer, pl_module):
        if self.step == 0:
            save(self.root, 0, pl_module.net.state_dict())

    def next_step_event(self, step: int) -> int | None:  # see training/blocks.py
        return self.step if step < self.step else None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == self.step:
            save(self.root, self.step, pl_module.net.state_dict())
