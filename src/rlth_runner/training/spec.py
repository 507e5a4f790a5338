"""What one fit trains, as typed values: `FitSpec` and its parts.

run/specs.py builds a spec once per round from the run's config, and every
fit of that round (the round's own, the instability analysis's second copy,
the verification) trains from it, so nothing below run/ reads the config.
Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..storage.layout import LoggerLocation
from .lr_schedules import LRSchedule


@dataclass(frozen=True)
class Steps:
    """How long the fit trains and in what pieces."""

    length: int  # the round's optimizer steps (lottery/budget.py): the learning-rate schedule's end
    start: int  # the schedule position of the fit's first step (the policy's schedule_start)
    max_epochs: int  # the Trainer's limits for length - start steps (budget.trainer_limits)
    max_steps: int  # -1: max_epochs alone ends the fit
    batch_size: int
    per_chunk: int  # train.steps_per_block: optimizer steps per Lightning iteration (step_chunks.py)


@dataclass(frozen=True)
class Optimizer:
    name: str
    lr: float
    momentum: float
    weight_decay: float
    distance_reg: float  # the learning-distance term's weight (regularisers.py); 0: off


@dataclass(frozen=True)
class EdgePopup:
    """train.mode=edge_popup: the scores choose `density` of each layer's unpruned weights (edge_popup.py)."""

    density: float
    seed: int  # the scores' initialisation


@dataclass(frozen=True)
class Evaluation:
    every: int | None  # the early-stop grid's spacing in optimizer steps; None: no grid
    target_error: float | None  # the validation error steps_to_target waits for


@dataclass(frozen=True)
class Checkpointing:
    """Saving the fit inside the round (round_checkpoint.py); at a stop signal it is saved whatever these say."""

    every_n_epochs: int | None  # None: not at epoch ends
    min_interval_s: float
    every_n_steps: int | None = None  # None: not inside epochs


@dataclass(frozen=True)
class TrainerSettings:
    """What the Trainer factory (trainer.py) needs: the hardware, how often to log and validate, and the names it shows."""

    accelerator: str
    devices: int
    strategy: str
    precision: str
    deterministic: object  # true, false or "warn"
    val_every_n_epochs: int
    log_every_n_steps: int
    round: int  # named by the NaN guard's error
    label: str  # the progress bar's, e.g. "Round 2/4"


@dataclass(frozen=True)
class FitSpec:
    round: int
    macs: int  # multiply-accumulates per example of the network the round trains (analysis/flops.py)
    steps: Steps
    schedule: LRSchedule
    optimizer: Optimizer
    mode: EdgePopup | None  # None: train.mode=weights
    evaluation: Evaluation
    checkpoint: Checkpointing | None  # None: no checkpoint inside the round, not even at a signal
    trainer: TrainerSettings
    log_to: LoggerLocation  # the fit's TensorBoard run
    fail_on_divergence: bool = False  # stop.on_divergence: a diverged fit fails instead of warning (divergence.py)
