"""A real `rlth-run` process SIGKILLed at several points, then re-run with the
same command: summary.json, every weights.pt and every TensorBoard scalar
series equal an uninterrupted run's.

With `checkpoint.min_interval_s=0` every epoch's end is checkpointed, so a
round killed mid-way continues from its last checkpoint; one kill point
checks that it did."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import wait_for
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

ARGS = ["rounds=3", "train.epochs=40", "model.width=32", "hardware.num_threads=1", "train.log_every_n_steps=5",
        "checkpoint.min_interval_s=0"]


def start(out: Path) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("rlth-run")
    return subprocess.Popen([str(exe), *ARGS, f"hydra.run.dir={out}"], cwd=out.parent,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def scalars(out: Path) -> dict:
    """{run/tag: [(step, value), ...]} for every TensorBoard run of the directory."""
    series = {}
    for events in sorted((out / "tensorboard").iterdir()):
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            series[f"{events.name}/{tag}"] = [(e.step, e.value) for e in acc.Scalars(tag)]
    return series


def summary_rounds(out: Path) -> list[dict]:
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == "completed"
    return [{k: v for k, v in r.items() if k != "seconds"} for r in s["rounds"]]


# Each point: the file whose appearance triggers the kill, and a delay after it.
POINTS = {
    "during round 0": ("tensorboard/round_0", 0.3),
    "mid-round after a checkpoint": ("rounds/round_1/checkpoint.ckpt", 0.1),
    "right after round 1's metrics.json": ("rounds/round_1/metrics.json", 0.0),
    "between rounds 1 and 2": ("tensorboard/round_2", 0.0),
}


@pytest.mark.slow
def test_killed_anywhere_the_rerun_equals_an_uninterrupted_run(tmp_path):
    straight = tmp_path / "straight"
    assert start(straight).wait(timeout=300) == 0
    expected = scalars(straight)
    assert {"summary/rounds/test_acc", "round_1/val/acc", "round_2/train/loss_step"} <= set(expected)
    assert [step for step, _ in expected["summary/rounds/test_acc"]] == [0, 1, 2]
    for point, (trigger, delay) in POINTS.items():
        out = tmp_path / point.replace(" ", "_").replace("'", "")
        proc = start(out)
        wait_for(out / trigger, proc)
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        again = start(out)
        assert again.wait(timeout=300) == 0, again.communicate()
        if point == "mid-round after a checkpoint":
            assert "Round 1: resuming from its checkpoint at step" in (out / "rlth.log").read_text()
        assert summary_rounds(out) == summary_rounds(straight), point
        for k in range(3):
            a = torch.load(out / "rounds" / f"round_{k}" / "weights.pt", weights_only=True)
            b = torch.load(straight / "rounds" / f"round_{k}" / "weights.pt", weights_only=True)
            assert all(torch.equal(a[n], b[n]) for n in b), (point, k)
        assert scalars(out) == expected, point


@pytest.mark.slow
def test_killed_after_a_checkpoint_inside_an_epoch_the_rerun_resumes_from_that_step(tmp_path):
    """SIGKILL right after a `checkpoint.every_n_steps` checkpoint: the re-run resumes from that step,
    part-way into its epoch, and ends equal to an uninterrupted run."""
    steps = ["checkpoint.every_n_epochs=null", "checkpoint.every_n_steps=25"]

    def begin(out: Path) -> subprocess.Popen:
        exe = Path(sys.executable).with_name("rlth-run")
        return subprocess.Popen([str(exe), *ARGS, *steps, f"hydra.run.dir={out}"], cwd=out.parent,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    straight, out = tmp_path / "straight", tmp_path / "killed"
    assert begin(straight).wait(timeout=300) == 0
    proc = begin(out)
    checkpoint = out / "rounds" / "round_1" / "checkpoint.ckpt"
    wait_for(checkpoint, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    saved = torch.load(checkpoint, weights_only=False)
    step = saved["global_step"]
    assert step % 25 == 0
    [position] = saved["loops"]["fit_loop"]["state_dict"]["combined_loader"]
    assert position["position"] > 0, "the checkpoint is inside an epoch"
    again = begin(out)
    assert again.wait(timeout=300) == 0, again.communicate()
    assert f"Round 1: resuming from its checkpoint at step {step} " in (out / "rlth.log").read_text()
    assert summary_rounds(out) == summary_rounds(straight)
    for k in range(3):
        a = torch.load(out / "rounds" / f"round_{k}" / "weights.pt", weights_only=True)
        b = torch.load(straight / "rounds" / f"round_{k}" / "weights.pt", weights_only=True)
        assert all(torch.equal(a[n], b[n]) for n in b), k
    assert scalars(out) == scalars(straight)
