"""Chunks of optimizer steps per Lightning loop iteration (the chunk size is
`train.steps_per_block`, a key that keeps the name configs know it by; a
"block" elsewhere is a model's, such as rlth_resnet's `blocks.*`).

On small networks one optimizer step takes a few milliseconds, and Lightning's
own work per loop iteration (hook dispatch, batch bookkeeping, metric
collection) about 1.5 ms more on a 2-core CPU. `TaskModule.training_step`
therefore runs a chunk of steps per call, pulling batches from
`dataloader_iter` (docs/performance.md). The numbers are the same whatever
the chunk size; only the callbacks' view changes:

* a callback with a `next_step_event(global_step) -> int | None` method (the
  rewind capture, the early-stop evaluation) gets `on_train_batch_end` with
  `trainer.global_step` equal to each step it names, since a chunk ends there;
* every other per-batch callback runs once per chunk.

`steps_per_block=1` is plain Lightning: every callback sees every step. Use
it for a callback that must act on every batch; keep the default (50) for
throughput on small networks. Lightning's private calls are all in
lightning_internals.py.

Under DDP every step goes through `manual_backward`, whose DDP hook
(`prepare_for_backward`) readies the gradient all-reduce that then runs
inside that step's backward, so a chunk of steps in one `training_step`
call reduces every step's gradients: chunks of 50 train bit for bit the
weights of `steps_per_block=1` (tests/test_ddp.py).
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from pytorch_lightning.plugins.precision import DoublePrecision, HalfPrecision, MixedPrecision, Precision
from pytorch_lightning.strategies import SingleDeviceStrategy
from pytorch_lightning.utilities.model_helpers import is_overridden


def chunk_end(trainer: pl.Trainer, steps_per_block: int) -> int:
    """The optimizer step at which the chunk starting at `trainer.global_step` ends.

    Chunks of more than one step are rounded up to a multiple of
    `log_every_n_steps`, so the progress bar (which moves at those steps)
    and the once-per-chunk callbacks see the logged steps.
    """
    step, every = trainer.global_step, trainer.log_every_n_steps
    size = every * -(-steps_per_block // every) if steps_per_block > 1 else 1
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
