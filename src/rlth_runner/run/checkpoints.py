"""Saved rounds back into networks of the right shape.

A grown network has more hidden layers than the config builds, in an order
the config does not know, so each round also records its architecture
(`arch.json`, see storage/layout.py): the model config, the data shape and the
hidden layers' names in order. `load_network` rebuilds a round's network from
that alone; `restore` rebuilds the runner's network before loading a
finished round's weights on resume.
"""

from __future__ import annotations

from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from ..lottery import growth
from ..lottery.pruning import masks
from ..storage.rundir import RunDir


def arch_of(net: nn.Module, model_cfg, input_shape, num_classes: int) -> dict:
    model = OmegaConf.to_container(model_cfg, resolve=True) if OmegaConf.is_config(model_cfg) else dict(model_cfg)
    return {"model": model, "input_shape": list(input_shape), "num_classes": num_classes, "hidden": growth.architecture(net)}


def restore(net: nn.Module, state: dict, arch: dict | None) -> None:
    """Load a round's weights into `net`, regrowing its hidden layers to `arch` first."""
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


def load_network(run_dir: Path | str, k: int) -> nn.Module:
    """The network as it ended round k of the run in `run_dir`, masks included."""
    run = RunDir(run_dir)
    arch = run.load_arch(k)
    if arch is None:
        raise FileNotFoundError(f"round {k} of {run.root} has no arch.json: it was not saved by this version, or not finished")
    net = build_network(arch)
    restore(net, run.load_weights(k), arch)
    return net.eval()


def build_network(arch: dict) -> nn.Module:
    """A fresh network of the config and data shape `arch` records (its hidden layers are set by `restore`)."""
    return instantiate(arch["model"], input_shape=tuple(arch["input_shape"]), num_classes=arch["num_classes"])
