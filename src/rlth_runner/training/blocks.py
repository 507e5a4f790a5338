"""Blocks of optimizer steps per Lightning loop iteration, and what they need.

On small networks one optimizer step takes a few milliseconds, and Lightning's
own work per loop iteration (hook dispatch, batch bookkeeping, metric
collection) about 1.5 ms more on a 2-core CPU. `TaskModule.training_step`
therefore runs a block of steps per call, pulling batches from
`dataloader_iter` (docs/performance.md).

A block ends early at any step a callback must see exactly: a callback with a
`next_step_event(global_step) -> int | None` method (the rewind capture, the
early-stop evaluation) gets `on_train_batch_end` with `trainer.global_step`
equal to each step it names. Every other per-batch callback runs once per block.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from pytorch_lightning.plugins.precision import DoublePrecision, HalfPrecision, MixedPrecision, Precision
from pytorch_lightning.strategies import SingleDeviceStrategy
from pytorch_lightning.utilities.model_helpers import is_overridden

# Over 50 steps Lightning's per-iteration cost is a fraction of a percent of a
# LeNet-300-100 step.
MIN_STEPS_PER_BLOCK = 50


def block_end(trainer: pl.Trainer) -> int:
    """The optimizer step at which the block starting at `trainer.global_step` ends."""
    step, every = trainer.global_step, trainer.log_every_n_steps
    size = every * -(-MIN_STEPS_PER_BLOCK // every)  # a multiple of `every`
    end = step - step % size + size
    for callback in trainer.callbacks:
        event = getattr(callback, "next_step_event", None)
        due = event(step) if event is not None else None
        if due is not None and step < due < end:
            end = due
    return min(end, trainer.max_steps) if trainer.max_steps >= 0 else end


class EpochMeans:
    """Per-example sums, accumulated in place on the device and read once per epoch."""

    def __init__(self):
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0

    def add(self, name: str, total: torch.Tensor) -> None:
        total = total.detach()
        if name in self.sums:
            self.sums[name].add_(total)
        else:
            self.sums[name] = total.clone()

    def pop(self) -> dict[str, torch.Tensor]:
        means = {name: total / self.count for name, total in self.sums.items()} if self.count else {}
        self.sums, self.count = {}, 0
        return means


# Hooks that Lightning's manual_backward and LightningOptimizer.step call on every step.
_STEP_HOOKS = ("on_before_backward", "on_after_backward", "on_before_optimizer_step")
_PLAIN_PRECISION = (Precision, MixedPrecision, HalfPrecision, DoublePrecision)


def lightning_step_hooks_unused(module: pl.LightningModule) -> bool:
    """Whether Lightning's backward and optimizer step would only dispatch hooks nobody listens to.

    `manual_backward` and `LightningOptimizer.step` also scale the loss for
    fp16 mixed precision and prepare DDP's gradient reduction, and they call the
    per-step hooks of the callbacks and the module. When none of that applies,
    their layers of dispatch cost about 0.4 ms per step, a tenth of a
    LeNet-300-100 step on 2 cores, and `loss.backward()` plus the optimizer's
    own `step()` do the same work.
    """
    trainer = module.trainer
    plugin = trainer.precision_plugin
    return (
        isinstance(trainer.strategy, SingleDeviceStrategy)
        and type(plugin) in _PLAIN_PRECISION
        and getattr(plugin, "scaler", None) is None
        and not is_overridden("backward", module)
        and not any(is_overridden(hook, module) for hook in _STEP_HOOKS)
        and not any(is_overridden(hook, cb) for cb in trainer.callbacks for hook in _STEP_HOOKS)
    )


def plain_step(optimizer) -> None:
    """The optimizer's own step, bracketed by the two calls through which
    `LightningOptimizer.step` counts it (`global_step`, `max_steps`).

    These are private attributes of Lightning's manual-optimization loop
    (pytorch-lightning is pinned below 2.7); tests/test_module_logging.py
    fails if their meaning changes.
    """
    optimizer._on_before_step()
    optimizer.optimizer.step()
    optimizer._on_after_step()
