"""The LightningModule's training loop, shared by the tasks (tasks.py): one
network, its loss, its metrics, its optimizer.

Built for throughput on small networks (docs/performance.md): each
`training_step` call runs a chunk of optimizer steps (training/step_chunks.py);
step metrics go to the loggers every `log_every_n_steps` optimizer steps;
epoch means are exact per-example means, summed on the device and read once
per epoch, so on a GPU the host waits on the device only when it logs.
The learning rate is set before every update from the round's schedule
(training/lr_schedules.py) and logged as `train/lr`: at step s, the LR of the
update from s to s + 1.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch import nn

from ..config import choices
from ..run import interrupts
from .lightning_internals import PlainHookNameAttribute, count_drawn_batches, counted_step
from .lr_schedules import LRSchedule
from .regularisers import DistanceToStart
from .step_chunks import EpochMeans, chunk_end, lightning_step_hooks_unused


class TaskModule(PlainHookNameAttribute, pl.LightningModule):
    """The training loop shared by the tasks; a task subclass defines `measure`."""

    def __init__(self, net: nn.Module, optimizer: str = "adam", lr: float = 1e-3, momentum: float = 0.9, weight_decay: float = 0.0,
                 steps_per_block: int = 50, schedule: LRSchedule | None = None, distance: DistanceToStart | None = None):
        super().__init__()
        self.net = net
        self.optimizer_name, self.lr, self.momentum, self.weight_decay = optimizer, lr, momentum, weight_decay
        self.steps_per_block = steps_per_block
        self.schedule = schedule or LRSchedule("constant", lr, horizon=0)
        self.distance = distance  # train.distance_reg's term (regularisers.py); None: off
        self.automatic_optimization = False
        self.means = {"train": EpochMeans(), "val": EpochMeans(), "test": EpochMeans()}
        self.first_loss = self.last_loss = None  # the first step's loss, the last epoch's mean (divergence.py)

    # A task subclass defines `measure(batch) -> (mean loss, {metric: per-example sum}, batch size)`.
    # Checked when the subclass is defined, so a task without one fails at import, not mid-training.
    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not callable(getattr(cls, "measure", None)):
            raise TypeError(f"{cls.__name__} must define measure(batch) -> (mean loss, metric sums, batch size)")

    def forward(self, x):
        return self.net(x)

    def _step(self, batch, stage: str):
        loss, sums, n = self.measure(batch)
        means = self.means[stage]
        for name, total in sums.items():
            means.add(name, total)
        means.count += n
        return loss, sums, n

    def training_step(self, dataloader_iter):
        trainer, opt, device = self.trainer, self.optimizers(), self.device
        interrupts.check(f" at step {self.global_step}")  # a signal noted at an epoch's end, by a fit that saves nothing
        resumed_at = getattr(trainer.train_dataloader, "start", 0)
        if resumed_at:  # the first chunk after a restore inside an epoch (data/batches.py)
            count_drawn_batches(dataloader_iter, resumed_at)
        end, every = chunk_end(trainer, self.steps_per_block), trainer.log_every_n_steps
        alone = trainer.world_size == 1
        total, done = None, 0
        while self.global_step < end and not dataloader_iter.done:
            batch, _, _ = next(dataloader_iter)
            # With dataloader_iter Lightning leaves device placement to the step; a no-op when already there.
            batch = [t.to(device, non_blocking=True) for t in batch]
            loss, sums, n = self._step(batch, "train")
            if self.first_loss is None and self.global_step == 0:
                self.first_loss = loss.detach()  # stays on the device: divergence.py reads it after the fit
            penalty = None
            if self.distance is not None:
                penalty = self.distance()
                loss = loss + penalty
            if self._lr_varies:  # set per update, so the chunk size cannot change the schedule
                lr = self.schedule.lr(self.global_step)
                for group in opt.optimizer.param_groups:
                    group["lr"] = lr
            opt.zero_grad(set_to_none=True)
            if self._plain_steps:
                loss.backward()
                counted_step(opt)
            else:
                self.manual_backward(loss)
                opt.step()
            total = loss.detach() if total is None else total + loss.detach()
            done += 1
            if self.global_step % every == 0:
                self._log_step({**{f"train/{name}_step": value / n for name, value in sums.items()}, "train/lr": self.schedule.lr(self.global_step),
                                **({"train/distance_reg": penalty} if penalty is not None else {})})
            if interrupts.received is not None and alone:  # a signal: end the chunk at this step (RoundCheckpoint saves it)
                break
        if not done:
            return None
        # The chunk's mean loss: not finite if any step's loss was not (FiniteLossGuard reads it).
        return {"loss": total / done}

    def on_train_batch_end(self, outputs, batch, batch_idx):
        # After every callback, the checkpoint included: stop at the step the signal
        # ended the chunk at. At an epoch's last batch the epoch's end runs first
        # (RoundCheckpoint saves and stops there), and a fit at its last step ends anyway.
        # Under DDP the ranks agree on a signal first (RoundCheckpoint): one rank stopping alone would hang the others.
        trainer = self.trainer
        if interrupts.received is not None and trainer.world_size == 1 and not trainer.is_last_batch and self.global_step != trainer.max_steps:
            interrupts.check(f" at step {self.global_step}")

    def _log_step(self, metrics: dict[str, torch.Tensor]) -> None:
        if not self.loggers:
            return
        values = {k: float(v.detach()) if isinstance(v, torch.Tensor) else v for k, v in metrics.items()}
        values["epoch"] = self.current_epoch
        for logger in self.loggers:
            logger.log_metrics(values, step=self.global_step)

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._step(batch, "test")

    def _log_means(self, stage: str, suffix: str = "") -> None:
        means = self.means[stage].pop()
        if means:
            logged = {f"{stage}/{k}{suffix}": v for k, v in means.items()}
            # `step` sets the x-axis: optimizer steps, as for the step metrics,
            # rather than Lightning's count of loop iterations (here, chunks).
            logged["step"] = float(self.global_step)
            self.log_dict(logged, on_step=False, on_epoch=True, batch_size=1)

    def on_train_start(self):
        train = self.means["train"]
        train.sums = {k: v.to(self.device) for k, v in train.sums.items()}  # restored on the CPU
        self._plain_steps = lightning_step_hooks_unused(self)
        self._lr_varies = self.schedule.varies
        if self.global_step == 0 and self.loggers:  # when resuming, the checkpoint's step has its point already
            for logger in self.loggers:
                logger.log_metrics({"train/lr": self.schedule.lr(0)}, step=0)

    def on_train_epoch_start(self):
        self.means["train"].pop()

    def on_train_epoch_end(self):
        # Straight to the loggers, not through self.log, which Lightning writes only
        # after every epoch-end hook: a checkpoint taken at the epoch's end
        # (RoundCheckpoint) must find the epoch's points on disk.
        means = self.means["train"].pop()
        if means:
            self.last_loss = means["loss"]
            self._log_step({f"train/{k}_epoch": v for k, v in means.items()})

    def on_save_checkpoint(self, checkpoint):
        # A fit resumed from the round's checkpoint still knows its first loss, and,
        # inside an epoch, the epoch's sums so far, so its means come out the same.
        checkpoint["first_loss"] = None if self.first_loss is None else float(self.first_loss)
        train = self.means["train"]
        checkpoint["train_means"] = {"sums": {k: v.cpu() for k, v in train.sums.items()}, "count": train.count}

    def on_load_checkpoint(self, checkpoint):
        self.first_loss = checkpoint.get("first_loss")
        if "train_means" in checkpoint:
            self.means["train"].sums, self.means["train"].count = dict(checkpoint["train_means"]["sums"]), checkpoint["train_means"]["count"]

    def on_validation_epoch_start(self):
        self.means["val"].pop()

    def on_validation_epoch_end(self):
        self._log_means("val")

    def on_test_epoch_start(self):
        self.means["test"].pop()

    def on_test_epoch_end(self):
        self._log_means("test")

    def configure_optimizers(self):
        kwargs = {"lr": self.lr, "weight_decay": self.weight_decay}
        if self.optimizer_name == "sgd":
            kwargs["momentum"] = self.momentum
        # Frozen parameters (train.mode=edge_popup's weights, training/edge_popup.py) stay out: Adam or
        # weight decay would otherwise move them.
        trainable = [p for p in self.net.parameters() if p.requires_grad]
        return choices.resolve(choices.OPTIMIZERS, self.optimizer_name, "optimizer")(trainable, **kwargs)
