"""The run directory: one folder per round, each step skipped if its artifact exists.

    <run>/init.pt                      weights at step 0 (what `reset` rewinds to)
    <run>/rounds/round_<k>/mask.pt     boolean masks the round trained with
    <run>/rounds/round_<k>/weights.pt  final weights (masks included as buffers)
    <run>/rounds/round_<k>/metrics.json
    <run>/tensorboard/round_<k>/       one TensorBoard run per round
    <run>/summary.json

A round counts as done once its metrics.json exists; it is written last, so a
run killed mid-round re-trains only that round when the command is re-run.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch


def write_json(path: Path, data) -> None:
    """Write atomically, so a reader never sees half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def save_tensor_file(path: Path, obj) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class RunStore:
    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def round_dir(self, k: int) -> Path:
        return self.root / "rounds" / f"round_{k}"

    def tensorboard_dir(self, k: int) -> Path:
        return self.root / "tensorboard" / f"round_{k}"

    # initial weights
    def has_init(self) -> bool:
        return (self.root / "init.pt").exists()

    def save_init(self, state: dict) -> None:
        save_tensor_file(self.root / "init.pt", {k: v.detach().cpu().clone() for k, v in state.items()})

    def load_init(self) -> dict:
        return torch.load(self.root / "init.pt", map_location="cpu", weights_only=True)

    # rounds
    def is_done(self, k: int) -> bool:
        return (self.round_dir(k) / "metrics.json").exists()

    def clear_partial(self, k: int) -> None:
        """Forget what an interrupted attempt at round k left behind."""
        shutil.rmtree(self.tensorboard_dir(k), ignore_errors=True)

    def save_round(self, k: int, state: dict, mask: dict, metrics: dict) -> None:
        d = self.round_dir(k)
        d.mkdir(parents=True, exist_ok=True)
        save_tensor_file(d / "mask.pt", mask)
        save_tensor_file(d / "weights.pt", {key: v.detach().cpu() for key, v in state.items()})
        write_json(d / "metrics.json", metrics)

    def load_round(self, k: int) -> tuple[dict, dict]:
        d = self.round_dir(k)
        weights = torch.load(d / "weights.pt", map_location="cpu", weights_only=True)
        return weights, json.loads((d / "metrics.json").read_text())
