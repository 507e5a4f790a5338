"""Each use of Lightning's private API (training/lightning_internals.py) on a
real Trainer: it must still exist and still do what rlth-runner relies on.
A Lightning release that changes one fails here, by name; each test also shows
what happens without the function, so a silent no-op cannot pass."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from rlth_runner.training import lightning_internals as internals

BATCHES = 4  # per epoch


class Tiny(pl.LightningModule):
    """One linear layer under manual optimization, stepping its optimizer with `step(optimizer)`."""

    def __init__(self, step=lambda optimizer: optimizer.step()):
        super().__init__()
        self.net, self.step, self.automatic_optimization = nn.Linear(2, 1), step, False
        self.hook_names = []

    def training_step(self, batch, batch_idx):
        self.hook_names.append(getattr(self, internals.HOOK_NAME_ATTRIBUTE, None))
        optimizer = self.optimizers()
        optimizer.zero_grad()
        x, y = batch
        F.mse_loss(self.net(x), y).backward()
        self.step(optimizer)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class FastTiny(internals.PlainHookNameAttribute, Tiny):
    pass


def fit(module: pl.LightningModule, callbacks=(), configure=lambda trainer: None, **limits) -> pl.Trainer:
    data = TensorDataset(torch.randn(2 * BATCHES, 2), torch.randn(2 * BATCHES, 1))
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0, callbacks=list(callbacks), **limits)
    configure(trainer)
    trainer.fit(module, DataLoader(data, batch_size=2))
    return trainer


def test_counted_step_steps_the_optimizer_and_lightning_counts_it():
    module = Tiny(internals.counted_step)
    before = module.net.weight.detach().clone()
    assert fit(module, max_epochs=2).global_step == 2 * BATCHES  # as many as LightningOptimizer.step counts
    assert not torch.equal(module.net.weight, before)
    assert fit(Tiny(internals.counted_step), max_epochs=5, max_steps=3).global_step == 3  # so max_steps ends the fit
    # Without the two private calls the optimizer steps, but Lightning never counts a step.
    assert fit(Tiny(lambda optimizer: optimizer.optimizer.step()), max_epochs=2).global_step == 0


class SigtermHandlerDuringFit(pl.Callback):
    def on_train_start(self, trainer, pl_module):
        self.handler = signal.getsignal(signal.SIGTERM)


def test_leave_signals_to_rlth_keeps_lightnings_sigterm_handler_out():
    ours = lambda signum, frame: None  # noqa: E731 - what rlth-run's interrupts.py would have installed
    previous = signal.signal(signal.SIGTERM, ours)
    try:
        left, plain = SigtermHandlerDuringFit(), SigtermHandlerDuringFit()
        fit(Tiny(), [left], configure=internals.leave_signals_to_rlth, max_epochs=1)
        fit(Tiny(), [plain], max_epochs=1)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert left.handler is ours
    assert plain.handler is not ours  # Lightning's own, which under DDP would hang the other ranks


class LimitOnStart(pl.Callback):
    def __init__(self, steps: int):
        self.steps = steps

    def on_train_start(self, trainer, pl_module):
        internals.limit_steps_of_running_fit(trainer, self.steps)
        self.seen = (trainer.max_steps, trainer.estimated_stepping_batches)  # what the progress bar reads


def test_a_step_limit_set_once_the_fit_runs_ends_it_there():
    limit = LimitOnStart(5)
    assert fit(Tiny(), [limit], max_epochs=3).global_step == 5  # inside the second epoch
    assert limit.seen == (5, 5)
    assert fit(Tiny(), max_epochs=3).global_step == 3 * BATCHES  # the control: max_epochs alone


def test_lightning_sets_the_hook_name_and_the_mixin_stores_it_past_module_setattr(monkeypatch):
    through_module_setattr = []
    module_setattr = nn.Module.__setattr__

    def counting(self, name, value):
        if name == internals.HOOK_NAME_ATTRIBUTE:
            through_module_setattr.append(value)
        module_setattr(self, name, value)

    monkeypatch.setattr(nn.Module, "__setattr__", counting)
    fast = FastTiny()
    fit(fast, max_epochs=1)
    assert fast.hook_names == ["training_step"] * BATCHES  # Lightning still names its hooks through this attribute
    assert through_module_setattr == []
    fit(Tiny(), max_epochs=1)
    assert "training_step" in through_module_setattr  # without the mixin, every hook name goes through nn.Module


def test_lightnings_private_names_appear_in_lightning_internals_only():
    package = Path(internals.__file__).parents[1]
    private = re.compile(r"_on_before_step|_on_after_step|_signal_connector|_current_fx_name|fit_loop|epoch_loop")
    offenders = [f"{path.relative_to(package)}:{number}" for path in package.rglob("*.py") if path.name != "lightning_internals.py"
                 for number, line in enumerate(path.read_text().splitlines(), 1) if private.search(line)]
    assert offenders == []


class Stopped(Exception):
    pass


class TwoBatchChunks(pl.LightningModule):
    """Draws two batches per training_step, as TaskModule draws a chunk; `align` tells the fetcher on resume."""

    def __init__(self, align: bool, stop_after: int | None = None):
        super().__init__()
        self.net, self.automatic_optimization = nn.Linear(2, 1), False
        self.align, self.stop_after, self.last_batch_seen, self.drawn = align, stop_after, [], []

    def training_step(self, dataloader_iter):
        loader = self.trainer.train_dataloader
        if self.align and loader.start:
            internals.count_drawn_batches(dataloader_iter, loader.start)
        for _ in range(2):
            if dataloader_iter.done:
                break
            (x, y), _, _ = next(dataloader_iter)
            self.drawn.append(x)
            optimizer = self.optimizers()
            optimizer.zero_grad()
            F.mse_loss(self.net(x), y).backward()
            optimizer.step()

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.last_batch_seen.append(self.trainer.is_last_batch)
        if self.stop_after is not None and len(self.drawn) == self.stop_after:
            self.trainer.save_checkpoint(self.path)
            raise Stopped

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_count_drawn_batches_lets_a_fit_resumed_inside_an_epoch_see_its_last_batch(tmp_path):
    from rlth_runner.data import TensorBatches

    x, y = torch.randn(16, 2), torch.randn(16, 1)  # 8 batches of 2: 4 chunks

    def run(module, ckpt=None):
        trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
                             num_sanity_val_steps=0, max_epochs=1, enable_checkpointing=False)
        trainer.fit(module, TensorBatches(x, y, 2, shuffle=True, seed=3), ckpt_path=ckpt)
        return module

    whole = run(TwoBatchChunks(align=True))
    first = TwoBatchChunks(align=True, stop_after=4)
    first.path = tmp_path / "mid.ckpt"
    with pytest.raises(Stopped):
        run(first)  # stopped after 2 chunks, at batch 4 of 8
    aligned, plain = run(TwoBatchChunks(align=True), first.path), run(TwoBatchChunks(align=False), first.path)
    assert all(torch.equal(a, b) for a, b in zip(first.drawn + aligned.drawn, whole.drawn, strict=True))  # the epoch's other 4 batches
    assert aligned.last_batch_seen == [False, True]  # the epoch's end is announced at its last chunk
    # Without it the fetcher counts 2 chunks as 2 batches: the last chunk is not the last batch, and an empty one follows.
    assert plain.last_batch_seen == [False, False, True]
