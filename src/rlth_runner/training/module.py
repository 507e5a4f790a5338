"""The LightningModule: one network, its loss, its metrics, its optimizer.

Built for throughput on small networks, where one optimizer step takes a few
milliseconds and Lightning's own work per loop iteration (hooks, batch
bookkeeping, metric collection) takes one or two more:

* Each call of `training_step` runs a block of optimizer steps (at least
  `MIN_STEPS_PER_BLOCK`, ending on a multiple of `log_every_n_steps`),
  pulling batches itself from `dataloader_iter` (manual optimization).
  Lightning's per-iteration cost is paid once per block, and `global_step`
  counts optimizer steps as usual. `manual_backward` and
  `LightningOptimizer.step` are used whenever they do more than
  `loss.backward()` and `optimizer.step()` (fp16 loss scaling, DDP, or a
  callback or module with per-step hooks), see `lightning_step_hooks_unused`.
* Step metrics are written to the loggers every `log_every_n_steps` steps,
  stamped with the optimizer step; epoch means are summed on the device and
  read once per epoch, so on a GPU the host waits on the device once per
  logged step, not on every step.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.plugins.precision import DoublePrecision, HalfPrecision, MixedPrecision, Precision
from pytorch_lightning.strategies import SingleDeviceStrategy
from pytorch_lightning.utilities.model_helpers import is_overridden
from torch import nn

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}

# Attributes Lightning sets around every hook call, several per step. They are
# never parameters, buffers or modules, so nn.Module.__setattr__'s checks for
# those can be skipped.
_PLAIN_ATTRIBUTES = frozenset({"_current_fx_name"})

# Lightning's work per loop iteration is about 1.5 ms of Python on a 2-core
# CPU; over 50 steps it is a fraction of a percent of a LeNet-300-100 step.
# Callbacks that act per "batch" (NaN guard, progress bar) act once per block.
MIN_STEPS_PER_BLOCK = 50


class EpochMeans:
    """Per-example means, summed in place on the device and read once per epoch."""

    def __init__(self):
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0

    def add(self, name: str, value: torch.Tensor, weight: float = 1.0) -> None:
        """Add `value * weight` to the sum of `name`: a batch mean with weight n, or a batch total."""
        value = value.detach()
        if name in self.sums:
            self.sums[name].add_(value, alpha=weight)
        else:
            self.sums[name] = value * weight

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


class Classifier(pl.LightningModule):
    def __init__(self, net: nn.Module, optimizer: str = "adam", lr: float = 1e-3, momentum: float = 0.9, weight_decay: float = 0.0):
        super().__init__()
        self.net = net
        self.optimizer_name, self.lr, self.momentum, self.weight_decay = optimizer, lr, momentum, weight_decay
        self.automatic_optimization = False
        self.means = {"train": EpochMeans(), "val": EpochMeans(), "test": EpochMeans()}

    def __setattr__(self, name, value):
        if name in _PLAIN_ATTRIBUTES:
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def forward(self, x):
        return self.net(x)

    def _step(self, batch, stage: str) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Loss, number of correct predictions and batch size; adds them to the stage's epoch means.

        Counting correct predictions costs three small tensor ops; a float mean
        would cost three more, on every step.
        """
        x, y = batch
        logits = self.net(x)
        loss = F.cross_entropy(logits, y)
        correct = (logits.argmax(dim=-1) == y).sum()
        n = len(y)
        means = self.means[stage]
        means.add("loss", loss, n)
        means.add("acc", correct)
        means.count += n
        return loss, correct, n

    def training_step(self, dataloader_iter):
        every = self.trainer.log_every_n_steps
        block = every * -(-MIN_STEPS_PER_BLOCK // every)  # a multiple of `every`
        steps = block - self.global_step % block
        if self.trainer.max_steps >= 0:
            steps = min(steps, self.trainer.max_steps - self.global_step)
        opt, device = self.optimizers(), self.device
        if self._plain_steps:
            # The optimizer's own step, bracketed by the two calls with which
            # LightningOptimizer.step counts it (global_step, max_steps).
            raw, before, after = opt.optimizer, opt._on_before_step, opt._on_after_step
        total, done = None, 0
        while done < steps and not dataloader_iter.done:
            batch, _, _ = next(dataloader_iter)
            # With dataloader_iter Lightning leaves device placement to the step; a no-op when already there.
            batch = [t.to(device, non_blocking=True) for t in batch]
            loss, correct, n = self._step(batch, "train")
            opt.zero_grad(set_to_none=True)
            if self._plain_steps:
                loss.backward()
                before()
                raw.step()
                after()
            else:
                self.manual_backward(loss)
                opt.step()
            total = loss.detach() if total is None else total + loss.detach()
            done += 1
            if self.global_step % every == 0:
                self._log_step({"train/loss_step": loss, "train/acc_step": correct / n})
        if not done:
            return None
        # The block's mean loss: NaN if any step's loss was (FiniteLossGuard reads it).
        return {"loss": total / done}

    def _log_step(self, metrics: dict[str, torch.Tensor]) -> None:
        if not self.loggers:
            return
        values = {k: float(v.detach()) for k, v in metrics.items()}
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
            # rather than Lightning's count of loop iterations (here, blocks).
            logged["step"] = float(self.global_step)
            self.log_dict(logged, on_step=False, on_epoch=True, batch_size=1)

    def on_train_start(self):
        self._plain_steps = lightning_step_hooks_unused(self)

    def on_train_epoch_start(self):
        self.means["train"].pop()

    def on_train_epoch_end(self):
        self._log_means("train", "_epoch")

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
        return OPTIMIZERS[self.optimizer_name](self.net.parameters(), **kwargs)
