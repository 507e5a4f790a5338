"""Learning-rate schedules (`train.schedule`), as pure functions of the optimizer step.

    constant   train.lr throughout
    step       train.lr x gamma^(milestones passed): `milestones` are optimizer steps of the round
    cosine     from train.lr down to train.lr x min_lr_factor at the round's end (half a cosine)

`warmup_steps` applies to every schedule: the first `warmup_steps` steps ramp
linearly to the schedule's value (step s uses (s + 1) / warmup_steps of it),
and `cosine` starts its decay when the warmup ends.

The LR is a function of the schedule position alone, with no state: a fit
resumed from a checkpoint (its `global_step`) continues the schedule exactly,
and the chunk size cannot change it. Position p is the p-th optimizer update
of the schedule; a fit starts at `start` (0, or `policy=lr_rewind`'s rewind
step) and ends at `horizon`, the round's length. Torch-free.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from functools import cached_property

from ..config.values import ConfigError


def constant(position: int, schedule: "LRSchedule") -> float:
    return 1.0


def step(position: int, schedule: "LRSchedule") -> float:
    return schedule.gamma ** bisect.bisect_right(schedule.milestones, position)


def cosine(position: int, schedule: "LRSchedule") -> float:
    span = schedule.horizon - schedule.warmup_steps
    progress = min(1.0, max(0, position - schedule.warmup_steps) / span) if span > 0 else 1.0
    return schedule.min_lr_factor + (1 - schedule.min_lr_factor) * (1 + math.cos(math.pi * progress)) / 2


@dataclass(frozen=True)
class LRSchedule:
    name: str
    base_lr: float
    horizon: int  # the schedule's length in optimizer steps: the round's length
    start: int = 0  # the schedule position of the fit's first update
    warmup_steps: int = 0
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    min_lr_factor: float = 0.0

    @property
    def varies(self) -> bool:
        """Whether any update's LR differs from train.lr (else nobody needs to set it)."""
        return self.name != "constant" or self.warmup_steps > 0

    @cached_property
    def _decay(self):
        from ..config import choices

        return choices.resolve(choices.LR_SCHEDULES, self.name, "learning-rate schedule")

    def factor(self, position: int) -> float:
        decay = self._decay(position, self)
        warmup = min(1.0, (position + 1) / self.warmup_steps) if self.warmup_steps else 1.0
        return warmup * decay

    def lr(self, fit_step: int) -> float:
        """The LR of the update that takes the fit from `fit_step` to `fit_step + 1`."""
        return self.base_lr * self.factor(self.start + fit_step)


def check_fits(warmup_steps: int, round_steps: int, why: str) -> None:
    """A warmup that fills the whole round leaves no schedule: one line, before training."""
    if warmup_steps >= round_steps:
        raise ConfigError(f"train.schedule.warmup_steps={warmup_steps} must be shorter than a round, {round_steps} steps ({why}); "
                          f"allowed: 0..{round_steps - 1}")
