"""The interface every policy implements. See policies/__init__.py."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # torch stays out of the import: config validation loads policies
    from torch import nn

    from ...storage.rundir import RunDir


@dataclass
class PolicyContext:
    """What a policy may use besides its own config (`cfg.policy`)."""

    run_dir: "RunDir"
    seed: int  # the run's seed (seeds.derive gives each random stream)
    pruner: object  # cfg.pruner: which layers carry masks, whether pruning is by filter
    build_model: Callable[[], "nn.Module"]  # a fresh network of the configured architecture
    model_name: str


class Policy(ABC):
    """What happens to the network after each round's pruning.

    A lottery run calls, in order:
      `check(cfg)`        (classmethod, torch-free) on the policy's config, before anything runs;
      `prepare(...)`      once, with the built network, before round 0 (run/prepare.py's preflight):
                          checks that need the model or data;
      `callbacks(k)`      for each round's fit: what the policy must see inside training;
      `schedule_start(k)` for each round's fit: the learning-rate schedule's position at its first step;
      `apply(net, k)`     after round k's pruning (k >= 1), with the new masks in place.
    `final_form(net, rounds)` is the network as it will be in the last round, for
    checks of layer-name patterns against layers that do not exist yet.
    """

    # What every round after the first starts from, when that is fixed for the run:
    # "init" (init.pt) or "rewind" (rewind.pt). Branches (branches/) need it.
    starts_from: str | None = None

    def __init__(self, cfg, ctx: PolicyContext):
        self.cfg, self.ctx = cfg, ctx

    @classmethod
    def check(cls, cfg) -> None:
        """Raise ConfigError for a bad value of the policy's own keys."""

    def prepare(self, net: "nn.Module", train_cfg, batches_per_epoch: int) -> None:
        """Raise ConfigError for what the config alone cannot tell."""

    def callbacks(self, round_index: int) -> list:
        return []

    def schedule_start(self, round_index: int) -> int:
        """The optimizer step of the round's learning-rate schedule its fit starts at; the fit
        trains from there to the schedule's end (training/lr_schedules.py)."""
        return 0

    @abstractmethod
    def apply(self, net: "nn.Module", round_index: int) -> str | None:
        """Set the weights round `round_index` trains from; may change the network in place
        (the runner then gives any new prunable layer a dense mask). Returns a note
        for the log when the structure changed, else None."""

    def final_form(self, net: "nn.Module", rounds: int) -> "nn.Module":
        return net


def load_weights(net, state: dict) -> None:
    """Load every tensor of `state` except the masks, which belong to the current round."""
    from ..pruning import masks

    weights = {k: v for k, v in state.items() if not k.endswith(masks.MASK)}
    missing, unexpected = net.load_state_dict(weights, strict=False)
    missing = [k for k in missing if not k.endswith(masks.MASK)]
    if missing or unexpected:
        raise KeyError(f"saved weights do not fit the network: missing {missing}, unexpected {unexpected}")
