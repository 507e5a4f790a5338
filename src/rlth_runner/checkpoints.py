"""Saved rounds back into networks of the right shape.

A grown network has more hidden layers than the config builds, in an order
the config does not know, so each round also writes `arch.json`: the model
config, the data shape and the hidden layers' names in order. `load_round`
rebuilds the network from it alone; `restore` rebuilds the runner's network
before loading a finished round's weights on resume.

    <run>/rounds/round_<k>/arch.json   written before metrics.json
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from . import growth
from .pruning import masks
from .store import write_json

ARCH = "arch.json"


def save_arch(round_dir: Path, net: nn.Module, model_cfg, input_shape, num_classes: int) -> None:
    round_dir.mkdir(parents=True, exist_ok=True)
    model = OmegaConf.to_container(model_cfg, resolve=True) if OmegaConf.is_config(model_cfg) else dict(model_cfg)
    write_json(
        round_dir / ARCH,
        {"model": model, "input_shape": list(input_shape), "num_classes": num_classes, "hidden": growth.architecture(net)},
    )


def _read_arch(round_dir: Path) -> dict | None:
    path = Path(round_dir) / ARCH
    return json.loads(path.read_text()) if path.exists() else None


def _load_into(net: nn.Module, arch: dict | None, state: dict) -> None:
    if arch is not None and arch["hidden"] is not None:
        growth.set_architecture(net, arch["hidden"])
    # Masks exactly where the checkpoint has them; strict loading then catches
    # any other mismatch between the weights and the architecture.
    layers = dict(net.named_modules())
    for key in state:
        if key.endswith("." + masks.MASK):
            layer = layers[key[: -len(masks.MASK) - 1]]
            if not hasattr(layer, masks.MASK):
                layer.register_buffer(masks.MASK, torch.ones_like(layer.weight))
    net.load_state_dict(state)


def restore(net: nn.Module, state: dict, round_dir: Path) -> None:
    """Load a finished round's weights into the runner's network, regrowing it first."""
    _load_into(net, _read_arch(round_dir), state)


def load_round(run_dir: Path | str, k: int) -> nn.Module:
    """The network as it ended round k of the run in `run_dir`, masks included."""
    round_dir = Path(run_dir) / "rounds" / f"round_{k}"
    arch = _read_arch(round_dir)
    if arch is None:
        raise FileNotFoundError(f"{round_dir / ARCH} not found: round {k} was not saved by this version, or not finished")
    net = instantiate(arch["model"], input_shape=tuple(arch["input_shape"]), num_classes=arch["num_classes"])
    state = torch.load(round_dir / "weights.pt", map_location="cpu", weights_only=True)
    _load_into(net, arch, state)
    return net.eval()
