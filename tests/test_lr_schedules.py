"""Learning-rate schedules (train.schedule) and policy=lr_rewind: the LR of every
optimizer update, whatever the block size, in TensorBoard, across a resume."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import rlth_runner.run.fitting as fitting
from conftest import Killed, all_scalars, kill_after_checkpoint
from rlth_runner.config import ConfigError, validate
from rlth_runner.run.runner import run
from rlth_runner.training.lr_schedules import LRSchedule

LR = 1e-3


@pytest.mark.parametrize("schedule, expected", [
    (LRSchedule("constant", LR, 10), {0: 1, 9: 1}),
    (LRSchedule("constant", LR, 10, warmup_steps=4), {0: 0.25, 1: 0.5, 3: 1, 9: 1}),
    (LRSchedule("step", LR, 10, milestones=(3, 6), gamma=0.5), {2: 1, 3: 0.5, 5: 0.5, 6: 0.25, 9: 0.25}),
    (LRSchedule("step", LR, 10, warmup_steps=4, milestones=(2,), gamma=0.5), {1: 0.5 * 1, 2: 0.75 * 0.5, 4: 0.5}),
    (LRSchedule("cosine", LR, 10, min_lr_factor=0.1), {0: 1, 5: 0.55, 10: 0.1, 12: 0.1}),
    # the decay starts when the warmup ends: half-way from step 2 to 10 is step 6
    (LRSchedule("cosine", LR, 10, warmup_steps=2, min_lr_factor=0.1), {0: 0.5, 1: 1, 2: 1, 6: 0.55, 10: 0.1}),
    (LRSchedule("cosine", LR, 10, start=5), {0: 0.5, 5: 0}),  # lr_rewind: the fit's step 0 is position 5
])
def test_each_schedule_gives_the_known_learning_rate(schedule, expected):
    for step, factor in expected.items():
        assert schedule.lr(step) == pytest.approx(LR * factor, abs=1e-15), (schedule, step)


class RecordLR(pl.Callback):
    """The learning rate each optimizer update is taken with (the optimizer's own step pre-hook)."""

    def __init__(self, seen: list):
        self.seen = seen

    def on_train_start(self, trainer, pl_module):
        trainer.optimizers[0].register_step_pre_hook(lambda opt, *_: self.seen.append(opt.param_groups[0]["lr"]))


def run_recording(cfg, monkeypatch) -> list[list[float]]:
    """Run `cfg`; the LRs of each fit's updates, one list per fit."""
    fits, build = [], fitting.build_trainer

    def build_recording(*args, extra_callbacks=(), **kw):
        fits.append([])
        return build(*args, extra_callbacks=[*extra_callbacks, RecordLR(fits[-1])], **kw)

    monkeypatch.setattr(fitting, "build_trainer", build_recording)
    run(cfg)
    monkeypatch.undo()
    return fits


def logged_lr(out: Path, k: int) -> list[tuple[int, float]]:
    acc = EventAccumulator(str(out / "tensorboard" / f"round_{k}"))
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars("train/lr")]


def records(out: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in json.loads((out / "summary.json").read_text())["rounds"]]


def weights(out: Path, k: int, name: str = "weights.pt") -> dict:
    return torch.load(out / "rounds" / f"round_{k}" / name, weights_only=True)


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[n], b[n]) for n in a)


STEP_SCHEDULE = ("train.schedule.name=step", "train.schedule.warmup_steps=4", "train.schedule.milestones=[7,13]", "train.schedule.gamma=0.5")


def test_the_schedule_advances_per_optimizer_step_whatever_the_block_size(make_cfg, tmp_path, monkeypatch):
    # one epoch of 20 batches; the milestones fall inside a block of 50 steps (which ends at the epoch's end)
    args = ("rounds=1", "train.max_steps=null", "train.log_every_n_steps=5", *STEP_SCHEDULE)
    outs, used = {}, {}
    for block in (1, 50):
        outs[block] = tmp_path / f"block_{block}"
        [used[block]] = run_recording(make_cfg(*args, f"train.steps_per_block={block}", out=outs[block]), monkeypatch)
    schedule = LRSchedule("step", LR, 20, warmup_steps=4, milestones=(7, 13), gamma=0.5)
    assert used[1] == used[50] == [schedule.lr(s) for s in range(20)]
    assert used[1][:4] == pytest.approx([LR / 4, LR / 2, 3 * LR / 4, LR]) and used[1][7] == LR / 2 and used[1][13] == LR / 4
    # TensorBoard: at step s, the LR of the update from s to s + 1
    assert logged_lr(outs[1], 0) == logged_lr(outs[50], 0) == [(s, pytest.approx(schedule.lr(s))) for s in range(0, 21, 5)]
    assert logged_lr(outs[1], 0)[1:4] == [(5, pytest.approx(LR)), (10, pytest.approx(LR / 2)), (15, pytest.approx(LR / 4))]
    assert records(outs[1]) == records(outs[50])
    assert same(weights(outs[1], 0), weights(outs[50], 0))


def test_lr_rewind_keeps_the_trained_weights_and_replays_the_schedule_from_its_step(make_cfg, tmp_path, monkeypatch):
    out = tmp_path / "run"
    cosine = ("train.schedule.name=cosine", "train.schedule.warmup_steps=2", "train.schedule.min_lr_factor=0.1")
    fits = run_recording(make_cfg("rounds=3", "policy=lr_rewind", "policy.step=3", "verify.enabled=true", *cosine, out=out), monkeypatch)
    schedule = LRSchedule("cosine", LR, 8, warmup_steps=2, min_lr_factor=0.1)  # FAST: rounds of 8 steps
    rounds = records(out)
    assert [r["train_steps"] for r in rounds] == [8, 5, 5]
    assert fits[0] == [schedule.lr(s) for s in range(8)]
    assert fits[1] == fits[2] == [schedule.lr(s) for s in range(3, 8)]
    assert fits[1][0] == pytest.approx(LR * (0.1 + 0.9 * (1 + math.cos(math.pi / 6)) / 2))  # step 3: 1/6 of the decay
    assert logged_lr(out, 1)[0] == (0, pytest.approx(schedule.lr(3)))
    for k in (1, 2):  # each round starts from the previous round's trained weights under its own mask
        start, trained, mask = weights(out, k, "start.pt"), weights(out, k - 1), weights(out, k, "mask.pt")
        for layer, kept in mask.items():
            assert torch.equal(start[f"{layer}.weight"], trained[f"{layer}.weight"] * kept)
            assert not torch.equal(kept, weights(out, k - 1, "mask.pt")[layer])  # it was pruned


@pytest.mark.parametrize("killed, schedule", [
    ("round_0", ("rounds=1", "train.schedule.name=cosine", "train.schedule.warmup_steps=10", "train.schedule.min_lr_factor=0.05")),
    # round 1 trains positions 30..59 of the schedule, 1.5 epochs: the second milestone comes after the resume at step 20
    ("round_1", ("rounds=2", "policy=lr_rewind", "policy.step=30", "train.schedule.name=step", "train.schedule.milestones=[45,55]")),
], ids=["cosine", "lr_rewind"])
def test_a_round_with_a_schedule_killed_after_a_checkpoint_resumes_exactly(make_cfg, tmp_path, monkeypatch, killed, schedule):
    args = ("train.epochs=3", "train.max_steps=null", "checkpoint.min_interval_s=0", *schedule)
    straight, out = tmp_path / "straight", tmp_path / "run"
    run(make_cfg(*args, out=straight))

    kill_after_checkpoint(monkeypatch, killed)  # as if SIGKILLed right after the checkpoint at step 20, with more steps to go
    with pytest.raises(Killed):
        run(make_cfg(*args, out=out))
    assert (out / "rounds" / killed / "checkpoint.ckpt").exists()
    monkeypatch.undo()
    run(make_cfg(*args, out=out))
    rounds = records(out)
    assert rounds == records(straight) and rounds[-1]["train_steps"] == (60 if killed == "round_0" else 30)
    assert all(same(weights(out, k), weights(straight, k)) for k in range(len(rounds)))
    assert all_scalars(out) == all_scalars(straight)  # train/lr included, no point twice


@pytest.mark.parametrize("override, needle", [
    (["train.schedule.name=linear"], "train.schedule.name='linear' is not one of: constant, step, cosine"),
    (["train.schedule.warmup_steps=-1"], "train.schedule.warmup_steps=-1 must be an integer >= 0"),
    (["train.schedule.milestones=[5,3]"], "train.schedule.milestones=[5, 3] must be a list of increasing optimizer steps >= 1"),
    (["train.schedule.milestones=[0,4]"], "train.schedule.milestones=[0, 4] must be a list of increasing optimizer steps >= 1"),
    (["train.schedule.gamma=0"], "train.schedule.gamma=0 must be a number > 0 and finite"),
    (["train.schedule.min_lr_factor=1.5"], "train.schedule.min_lr_factor=1.5 must be in [0, 1]"),
    (["policy=lr_rewind", "policy.step=-1"], "policy.step=-1 must be an integer >= 0 or null"),
    (["policy=lr_rewind", "policy.step=null"], "policy.step=None: policy=lr_rewind needs policy.step"),
])
def test_bad_schedule_values_are_one_line_naming_the_key(make_cfg, override, needle):
    with pytest.raises(ConfigError) as err:
        validate(make_cfg(*override))
    assert "\n" not in str(err.value) and str(err.value).startswith(needle)


@pytest.mark.parametrize("override, needle", [
    (["train.schedule.warmup_steps=8"], "train.schedule.warmup_steps=8 must be shorter than a round, 8 steps (train.epochs=1 x 20 batches"),
    (["policy=lr_rewind", "policy.step=8"], "policy.step=8 (step 8) leaves nothing to train in a round of 8 steps"),
    (["policy=lr_rewind", "policy.epoch=1"], "policy.epoch=1 (step 20) leaves nothing to train in a round of 8 steps"),
])
def test_a_schedule_longer_than_a_round_stops_before_training(make_cfg, tmp_path, override, needle):
    cfg = make_cfg(*override)
    validate(cfg)
    with pytest.raises(ConfigError) as err:
        run(cfg)
    assert "\n" not in str(err.value) and str(err.value).startswith(needle)
    assert not (tmp_path / "run" / "init.pt").exists()
