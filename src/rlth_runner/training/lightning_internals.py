"""Every use of Lightning's private or internal API, in one room.

Lightning (2.6) has no public way to do the five things below, and each is a
reason for the `pytorch-lightning<2.7` pin. Each is one small function or
mixin, saying why it is needed and what breaks without it; the rest of the
package calls these and touches none of Lightning's underscored names.
tests/test_lightning_internals.py checks each against a real Trainer and
fails by name when a Lightning release changes it: run it before raising the
pin.
"""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.core.optimizer import LightningOptimizer

# What Lightning sets on a LightningModule around every hook call it makes (trainer/call.py).
HOOK_NAME_ATTRIBUTE = "_current_fx_name"


def counted_step(optimizer: LightningOptimizer) -> None:
    """The wrapped optimizer's own `step()`, counted by Lightning as `LightningOptimizer.step` counts it.

    Used when Lightning's step would only dispatch hooks nobody listens to
    (blocks.lightning_step_hooks_unused): that dispatch costs about 0.4 ms a
    step, a tenth of a small network's step on 2 cores. The manual-optimization
    loop hangs its step counter on the two private callbacks; without them the
    weights train but `trainer.global_step` never moves, so `max_steps`, the
    step-keyed callbacks, logging and checkpoints all see step 0 and a round
    trains until its epochs run out.
    """
    optimizer._on_before_step()
    optimizer.optimizer.step()
    optimizer._on_after_step()


def leave_signals_to_rlth(trainer: pl.Trainer) -> None:
    """Stop `trainer` from installing its signal handlers when a fit starts.

    Under DDP, Lightning's SIGTERM handler broadcasts from inside the handler,
    a collective the other ranks never match, and they hang. rlth-run stops on
    signals itself (interrupts.py) and forwards them to the ranks
    (distributed/launch.py). Without this, a SIGTERM to a DDP run (a cluster's
    time limit, a scancel) leaves its ranks hanging instead of stopping at a
    step boundary with their rounds saved.
    """
    trainer._signal_connector.register_signal_handlers = lambda: None


def limit_steps_of_running_fit(trainer: pl.Trainer, steps: int) -> None:
    """Make the fit that is running end after `steps` optimizer steps.

    Lightning (2.6) resumes a fit built with `max_steps` from an epoch-end
    checkpoint as if it had stopped inside that epoch: the epoch's end runs
    again and is counted twice, so later epochs get another batch order and the
    last one is lost. A fit is therefore built with `max_epochs` alone and given
    its step limit once training starts (callbacks.StopAtStep), which only the
    training epoch loop (an internal `_TrainingEpochLoop`) lets one set: the
    Trainer's `max_steps` is read-only. Without it, a round that is not a whole
    number of epochs trains to the end of its last epoch.
    """
    trainer.fit_loop.epoch_loop.max_steps = steps


def count_drawn_batches(dataloader_iter, drawn: int) -> None:
    """Tell the fetcher behind `dataloader_iter` that `drawn` batches of the epoch are already drawn.

    Resuming inside an epoch, Lightning sets its fetcher's count to the loop
    iterations done before the checkpoint (`batch_progress.current.ready`),
    which are batches only when each iteration draws one; here an iteration
    is a chunk of steps (step_chunks.py). The fetcher announces the epoch's
    last batch when its count reaches the loader's length, so without this
    the resumed epoch's last chunk is not seen as its last batch (a step
    checkpoint would be taken there, before the epoch's end has run), and an
    empty loop iteration follows it.
    """
    dataloader_iter.data_fetcher.fetched = drawn


class PlainHookNameAttribute:
    """Mixin for a LightningModule: the attribute Lightning sets around every hook is stored directly.

    Lightning sets it tens of times per step. `nn.Module.__setattr__` checks
    every value against the module's parameters, buffers and submodules, which
    at that rate was measurable (0.43 ms of a profiled step, docs/performance.md);
    the hook's name is never one of those, so storing it with
    `object.__setattr__` has the same effect. Without it a fit is only slower.
    """

    def __setattr__(self, name, value):
        if name == HOOK_NAME_ATTRIBUTE:
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)
