"""A real `rlth-run` process told to stop by a signal mid-round: the exit code,
`status: interrupted` with the signal's name, one line on stderr, and a
continued run equal to an uninterrupted one."""

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
