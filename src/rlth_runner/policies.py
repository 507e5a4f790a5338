"""What happens to the weights after each round's pruning.

A policy is a function (net, ctx) -> None called after round k's pruning,
with the new masks already in place. It sets the weights the next training
starts from and may change the network in place (a growth policy inserts
layers; the runner attaches masks to new layers and builds a fresh optimizer
after it). `ctx` carries what a policy may need: the config, the run store,
the round index and a model factory.

    reset        surviving weights back to their initial values (Frankle & Carbin)
    rewind       back to their values at step k (or epoch e) of round 0
    finetune     keep the trained values (classical pruning)
    reinit       a fresh random initialisation, same mask (control)
    random_mask  initial values, but a random mask with each layer's density (control)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from omegaconf import DictConfig
from torch import nn

from . import growth
from .pruning import masks
from .pruning.schedules import derived_seed
from .store import RunStore
from .training import rewind as rewind_store


@dataclass
class PolicyContext:
    cfg: DictConfig
    store: RunStore
    round_index: int
    build_model: Callable[[], nn.Module]  # a fresh network of the configured architecture


def load_weights(net: nn.Module, state: dict) -> None:
    """Load every tensor of `state` except the masks, which belong to the current round."""
    weights = {k: v for k, v in state.items() if not k.endswith(masks.MASK)}
    missing, unexpected = net.load_state_dict(weights, strict=False)
    missing = [k for k in missing if not k.endswith(masks.MASK)]
    if missing or unexpected:
        raise KeyError(f"saved weights do not fit the network: missing {missing}, unexpected {unexpected}")


def reset(net: nn.Module, ctx: PolicyContext) -> None:
    """Frankle & Carbin: rewind the surviving weights to their initial values."""
    load_weights(net, ctx.store.load_init())
    masks.apply(net)


def rewind(net: nn.Module, ctx: PolicyContext) -> None:
    """Frankle et al. (2019): back to the weights captured at step k of round 0."""
    load_weights(net, rewind_store.load(ctx.store.root)["state"])
    masks.apply(net)


def finetune(net: nn.Module, ctx: PolicyContext) -> None:
    """Keep the trained values of the survivors; only the mask changes."""
    masks.apply(net)


def reinit(net: nn.Module, ctx: PolicyContext) -> None:
    """A fresh draw of the model's own initialisation, seeded per round, under the same mask."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derived_seed(ctx.cfg.seed, ctx.round_index, "reinit"))
        fresh = ctx.build_model()
    device = next(net.parameters()).device
    load_weights(net, {k: v.to(device) for k, v in fresh.state_dict().items()})
    masks.apply(net)


def random_mask(net: nn.Module, ctx: PolicyContext) -> None:
    """Initial values under a random mask with exactly each layer's density.

    Each layer's new mask is a seeded random permutation of the pruner's mask
    (of its filters, for l1_filter), so the counts match to the weight.
    """
    g = torch.Generator().manual_seed(derived_seed(ctx.cfg.seed, ctx.round_index, "random_mask"))
    structured = ctx.cfg.pruner.name == "l1_filter"
    with torch.no_grad():
        for layer in masks.masked_layers(net).values():
            mask = getattr(layer, masks.MASK)
            if structured:
                mask.copy_(mask[torch.randperm(mask.shape[0], generator=g).to(mask.device)])
            else:
                perm = torch.randperm(mask.numel(), generator=g).to(mask.device)
                mask.copy_(mask.flatten()[perm].view_as(mask))
    reset(net, ctx)


POLICIES = {"reset": reset, "rewind": rewind, "finetune": finetune, "reinit": reinit, "random_mask": random_mask, "grow": growth.keep}


def get(name: str):
    try:
        return POLICIES[name]
    except KeyError:
        raise KeyError(f"unknown policy {name!r}; choose one of {sorted(POLICIES)}") from None
