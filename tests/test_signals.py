"""A real `rlth-run` process told to stop by a signal mid-round: the exit code,
`status: interrupted` with the signal's name, one line on stderr, and a
continued run equal to an uninterrupted one."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import wait_for
import torch

# Long enough rounds (about 2 s each on 2 cores) to land a signal inside round 1.
ARGS = ["rounds=3", "train.epochs=60", "model.width=32", "hardware.num_threads=1"]


def rlth_run(out: Path, *extra: str) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("rlth-run")
    return subprocess.Popen([str(exe), *ARGS, *extra, f"hydra.run.dir={out}"], cwd=out.parent,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGUSR1, 138)])
def test_a_signal_mid_round_interrupts_and_the_rerun_continues(tmp_path, signum, code):
    straight, out = tmp_path / "straight", tmp_path / "run"
    proc = rlth_run(out)
    wait_for(out / "rounds" / "round_0" / "metrics.json", proc)
    time.sleep(0.5)  # inside round 1
    os.kill(proc.pid, signum)
    _, stderr = proc.communicate(timeout=120)

    name = signal.Signals(signum).name
    assert proc.returncode == code, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("rlth-run:")]
    assert len(lines) == 1 and f"interrupted by {name}" in lines[0] and "Traceback" not in stderr
    s = summary(out)
    assert s["status"] == "interrupted" and s["signal"] == name
    assert [r["round"] for r in s["rounds"]] == [0] and not (out / "rounds" / "round_1" / "metrics.json").exists()

    again = rlth_run(out)
    assert again.wait(timeout=300) == 0, again.communicate()
    done = rlth_run(straight)
    assert done.wait(timeout=300) == 0, done.communicate()
    drop = lambda r: {k: v for k, v in r.items() if k != "seconds"}  # noqa: E731
    assert summary(out)["status"] == "completed"
    assert [drop(r) for r in summary(out)["rounds"]] == [drop(r) for r in summary(straight)["rounds"]]
    for k in range(3):
        a = torch.load(out / "rounds" / f"round_{k}" / "weights.pt", weights_only=True)
        b = torch.load(straight / "rounds" / f"round_{k}" / "weights.pt", weights_only=True)
        assert all(torch.equal(a[n], b[n]) for n in b)


# Epochs of 315 steps, about 0.7 s each, so a signal lands inside an epoch, not in its
# validation (where it would be saved at the epoch's end).
MID = ["rounds=3", "train.epochs=5", "train.batch_size=4", "model.width=32", "hardware.num_threads=1"]
BATCHES = 315  # 1260 training digits in batches of 4


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("straight") / "run"
    exe = Path(sys.executable).with_name("rlth-run")
    subprocess.run([str(exe), *MID, f"hydra.run.dir={out}"], cwd=out.parent, check=True, capture_output=True, timeout=300)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGUSR1, signal.SIGTERM])
def test_a_signal_inside_an_epoch_saves_that_step_and_the_printed_command_continues_exactly(tmp_path, uninterrupted, signum):
    from conftest import all_scalars

    exe = Path(sys.executable).with_name("rlth-run")
    out = tmp_path / "run"
    proc = subprocess.Popen([str(exe), *MID, f"hydra.run.dir={out}"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(out / "rounds" / "round_0" / "metrics.json", proc)
    time.sleep(1.0)  # inside round 1
    os.kill(proc.pid, signum)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, stderr
    (line,) = [line for line in stderr.splitlines() if line.startswith("rlth-run:")]
    found = re.fullmatch(rf"rlth-run: interrupted by {signal.Signals(signum).name} at step (\d+); continue with: (.*)  \(or: .*\)", line)
    assert found, line
    step, command = int(found[1]), found[2]

    saved = torch.load(out / "rounds" / "round_1" / "checkpoint.ckpt", weights_only=False)
    assert saved["global_step"] == step  # the step the process stopped at, not an earlier epoch's end
    (position,) = saved["loops"]["fit_loop"]["state_dict"]["combined_loader"]
    assert position == {"epoch": step // BATCHES, "position": step % BATCHES} and position["position"] > 0, "inside an epoch"
    assert summary(out)["status"] == "interrupted"

    env = {**os.environ, "PATH": f"{exe.parent}{os.pathsep}{os.environ['PATH']}"}
    again = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)  # as printed
    assert again.returncode == 0, again.stderr
    assert f"Round 1: resuming from its checkpoint at step {step} " in (out / "rlth.log").read_text()
    drop = lambda r: {k: v for k, v in r.items() if k != "seconds"}  # noqa: E731
    assert [drop(r) for r in summary(out)["rounds"]] == [drop(r) for r in summary(uninterrupted)["rounds"]]
    for k in range(3):
        a = torch.load(out / "rounds" / f"round_{k}" / "weights.pt", weights_only=True)
        b = torch.load(uninterrupted / "rounds" / f"round_{k}" / "weights.pt", weights_only=True)
        assert a.keys() == b.keys() and all(torch.equal(a[n], b[n]) for n in b)
    assert all_scalars(out) == all_scalars(uninterrupted), "no duplicated or missing TensorBoard point"


def test_a_stopped_run_hands_its_signal_on_to_the_handler_it_found(monkeypatch):
    # submitit's USR2 handler requeues a SLURM job: it must still run, after the run has stopped and saved.
    from rlth_runner.run import interrupts

    monkeypatch.setattr(interrupts, "_outer", {})
    calls = []
    previous = {s: signal.signal(s, lambda signum, frame: calls.append(signum)) for s in (signal.SIGUSR2, signal.SIGINT)}
    try:
        for signum in (signal.SIGUSR2, signal.SIGINT):
            with interrupts.noted():
                os.kill(os.getpid(), signum)
                time.sleep(0.05)
                assert interrupts.received == signum and calls == [signal.SIGUSR2] * (signum == signal.SIGINT)
        assert calls == [signal.SIGUSR2]  # once the block ended; Ctrl-C is not handed on
        with interrupts.noted():
            pass
        assert calls == [signal.SIGUSR2]  # no signal, nothing handed on
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
