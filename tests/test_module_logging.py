"""The Classifier's blocks of steps and its sparse logging keep Lightning's semantics."""

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.loggers import TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rlth_runner.data import TensorBatches
from rlth_runner.models.mlp import MLP
from rlth_runner.training.step_chunks import lightning_step_hooks_unused
from rlth_runner.training.tasks import Classifier
from rlth_runner.training.trainer import quiet_lightning


def test_steps_epochs_and_logged_values(tmp_path):
    quiet_lightning()
    torch.manual_seed(0)
    x, y = torch.randn(300, 1, 8, 8), torch.randint(0, 10, (300,))
    vx, vy = torch.randn(70, 1, 8, 8), torch.randint(0, 10, (70,))
    net = MLP(input_shape=(1, 8, 8), num_classes=10, width=16)
    module = Classifier(net, "adam", lr=1e-2)
    logger = TensorBoardLogger(save_dir=str(tmp_path), name="tb", version="v", default_hp_metric=False)
    # 10 batches per epoch (the last one short); blocks of 4 steps; stop mid-epoch at 25
    trainer = pl.Trainer(max_steps=25, max_epochs=100, log_every_n_steps=4, logger=logger, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, accelerator="cpu")
    trainer.fit(module, TensorBatches(x, y, 32, shuffle=True), TensorBatches(vx, vy, 32))
    assert trainer.global_step == 25 and trainer.current_epoch == 3  # as with automatic optimization

    # means over examples, not over batches: the last validation batch holds 6 of 70
    result = trainer.validate(module, TensorBatches(vx, vy, 32), verbose=False)[0]
    with torch.no_grad():
        logits = net(vx)
    assert abs(result["val/loss"] - float(F.cross_entropy(logits, vy))) < 1e-5
    assert abs(result["val/acc"] - float((logits.argmax(-1) == vy).float().mean())) < 1e-6

    logger.experiment.flush()
    events = EventAccumulator(str(tmp_path / "tb" / "v"))
    events.Reload()
    steps = lambda tag: [e.step for e in events.Scalars(tag)]  # noqa: E731
    assert steps("train/loss_step") == [4, 8, 12, 16, 20, 24]  # every 4 optimizer steps, not every 4 blocks
    assert steps("train/acc_step") == [4, 8, 12, 16, 20, 24]
    assert steps("train/loss_epoch") == [10, 20, 25]
    assert steps("val/acc") == [10, 20, 25]  # two epochs, then the explicit validate()


class CountBackward(pl.Callback):
    def __init__(self):
        self.calls = 0

    def on_after_backward(self, trainer, pl_module):
        self.calls += 1


class RecordPlain(pl.Callback):
    def on_train_start(self, trainer, pl_module):
        self.plain = lightning_step_hooks_unused(pl_module)


def fit_small(callbacks, steps=7, steps_per_block=50):
    torch.manual_seed(0)
    x, y = torch.randn(200, 1, 8, 8), torch.randint(0, 10, (200,))
    trainer = pl.Trainer(max_steps=steps, logger=False, callbacks=callbacks, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    module = Classifier(MLP(input_shape=(1, 8, 8), num_classes=10, width=8), steps_per_block=steps_per_block)
    trainer.fit(module, TensorBatches(x, y, 20, shuffle=True))
    assert trainer.global_step == steps
    return module.net


def test_backward_hooks_run_on_every_step_when_a_callback_has_them():
    counter, record = CountBackward(), RecordPlain()
    fit_small([counter, record])
    assert record.plain is False
    assert counter.calls == 7


class CountOptimizerSteps(pl.Callback):
    def __init__(self):
        self.calls = 0

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.calls += 1


def test_optimizer_step_hooks_run_on_every_step_when_a_callback_has_them():
    counter, record = CountOptimizerSteps(), RecordPlain()
    fit_small([counter, record])
    assert record.plain is False
    assert counter.calls == 7


def test_plain_backward_when_no_one_listens():
    record = RecordPlain()
    fit_small([record])
    assert record.plain is True


class SeeSteps(pl.Callback):
    """Asks for steps 3 and 61 and every multiple of 20, and records the steps it is shown."""

    def __init__(self):
        self.seen = []

    def next_step_event(self, step):
        return min(s for s in (3, 61, step - step % 20 + 20) if s > step)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.seen.append(trainer.global_step)


def test_blocks_end_at_every_step_a_callback_asks_for():
    see = SeeSteps()
    fit_small([see], steps=130)  # 10 batches per epoch
    wanted = {3, 61} | set(range(20, 130, 20))
    assert wanted <= set(see.seen)
    assert see.seen[-1] == 130 and see.seen == sorted(see.seen)
    # and no more often than those events, the epoch ends and the 50-step blocks require
    assert len(see.seen) <= len(wanted) + 13 + 3


class EveryBatch(pl.Callback):
    def __init__(self):
        self.seen = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.seen.append(trainer.global_step)


def test_one_step_per_block_shows_every_step_and_trains_the_same_weights():
    plain, blocked = EveryBatch(), EveryBatch()
    a = fit_small([plain], steps=130, steps_per_block=1)
    b = fit_small([blocked], steps=130)
    assert plain.seen == list(range(1, 131)), "steps_per_block=1 is plain Lightning: every step"
    assert len(blocked.seen) < 20, "the default runs blocks of steps"
    assert all(torch.equal(a.state_dict()[k], v) for k, v in b.state_dict().items()), "the block size changes no number"


def test_a_task_without_measure_fails_when_defined():
    from rlth_runner.training.module import TaskModule

    with pytest.raises(TypeError, match="NoMeasure must define measure"):

        class NoMeasure(TaskModule):
            pass
