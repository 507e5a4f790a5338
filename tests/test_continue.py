"""Continuing a run: the interrupt message's command, followed literally,
resumes the run (its finished rounds are kept, not trained again);
`rlth-run resume=<run>` runs the run's own saved command; a second Ctrl-C
exits at once with one line (entry/command.py, run/interrupts.py)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import wait_for
from test_bad_input import TINY, cli, one_line  # noqa: F401 - fixtures
from rlth_runner.config import ConfigError
from rlth_runner.entry.command import continue_command, expand_resume

EXE = Path(sys.executable).with_name("rlth-run")
# Rounds of about 2 s each on 2 cores, so that a signal lands inside round 1.
LONG = ["rounds=3", "train.epochs=60", "model.width=32", "hardware.num_threads=1"]


def summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


@pytest.mark.slow
def test_the_interrupt_message_gives_the_command_that_continues_the_run(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([str(EXE), *LONG, f"hydra.run.dir={out.name}"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(out / "rounds" / "round_0" / "metrics.json", proc)
    time.sleep(0.5)  # inside round 1
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    (line,) = [line for line in stderr.splitlines() if line.startswith("rlth-run:")]
    # "at step N" inside a fit; a loaded machine can deliver the signal between two fits, where there is no step
    found = re.fullmatch(r"rlth-run: interrupted by SIGTERM(?: at step \d+)?; continue with: (.*)  \(or: rlth-run resume=(.*)\)", line)
    assert found, line
    command, resume_dir = found.groups()
    assert command == f"rlth-run {' '.join(LONG)} hydra.run.dir={out}" and resume_dir == str(out)  # absolute: from anywhere
    round_0 = (out / "rounds" / "round_0" / "weights.pt").stat().st_mtime_ns

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PATH": f"{EXE.parent}{os.pathsep}{os.environ['PATH']}"}
    again = subprocess.run(command, shell=True, cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)  # as printed
    assert again.returncode == 0, again.stderr
    assert f"Round 0 already done, skipping ({out / 'rounds' / 'round_0'})" in again.stdout  # resumed, not restarted
    assert (out / "rounds" / "round_0" / "weights.pt").stat().st_mtime_ns == round_0
    s = summary(out)
    assert s["status"] == "completed" and [r["round"] for r in s["rounds"]] == [0, 1, 2]
    assert list(elsewhere.iterdir()) == []  # no new run directory


def test_resume_runs_the_runs_own_command_again(cli, tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert cli(*TINY, "seed=3", f"hydra.run.dir={out}")[0] == 0
    round_0 = (out / "rounds" / "round_0" / "metrics.json").read_bytes()
    monkeypatch.chdir(tmp_path / "run")  # anywhere: the path is the run's
    code, stdout, err = cli(f"resume={out}", "rounds=2")  # rounds=2: extend it
    assert code == 0, err
    assert "Round 0 already done, skipping" in stdout
    s = summary(out)
    assert s["status"] == "completed" and s["seed"] == 3 and [r["round"] for r in s["rounds"]] == [0, 1]
    assert (out / "rounds" / "round_0" / "metrics.json").read_bytes() == round_0
    # the saved command, less the keys resume= was given, then those
    assert s["overrides"] == [o for o in TINY if not o.startswith("rounds=")] + ["seed=3", "rounds=2"]
    assert not (tmp_path / "run" / "outputs").exists()


def test_rerunning_a_finished_run_leaves_its_summary_as_it_was(cli, tmp_path):
    out = tmp_path / "run"
    assert cli(*TINY, f"hydra.run.dir={out}")[0] == 0
    before = (out / "summary.json").read_bytes()
    code, stdout, err = cli(f"resume={out}")
    assert code == 0 and "Round 0 already done, skipping" in stdout, err
    assert (out / "summary.json").read_bytes() == before  # started_at and finished_at are the run's own


def test_resume_expands_to_the_newest_invocations_command(tmp_path):
    out = tmp_path / "run"
    (out / ".hydra" / "invocations" / "2026-01-02_00-00-00").mkdir(parents=True)
    (out / ".hydra" / "config.yaml").write_text("seed: 0\n")
    (out / ".hydra" / "overrides.yaml").write_text("- seed=1\n- rounds=2\n")
    assert expand_resume(["-cd", "x", f"resume={out}", "rounds=3"]) == ["seed=1", "-cd", "x", "rounds=3", f"hydra.run.dir={out}"]
    newer = out / ".hydra" / "invocations" / "2026-01-02_00-00-00"
    (newer / "config.yaml").write_text("seed: 0\n")
    (newer / "overrides.yaml").write_text("- seed=1\n- rounds=5\n- +pruner.layer_rates.output=0.5\n")
    (newer / "hydra.yaml").write_text("hydra:\n  runtime:\n    config_sources:\n    - {path: /my/conf, schema: file, provider: command-line}\n")
    assert expand_resume([f"resume={out}"]) == ["--config-dir", "/my/conf", "seed=1", "rounds=5", "+pruner.layer_rates.output=0.5",
                                                f"hydra.run.dir={out}"]
    assert expand_resume(["seed=2"]) == ["seed=2"]  # no resume=: as typed
    for argv, message in (([f"resume={tmp_path}"], "no run there"), ([f"resume={out}", "-m"], "continues one run, not a sweep"),
                          ([f"resume={out}", "hydra.run.dir=x"], "names the run directory: drop hydra.run.dir=x")):
        with pytest.raises(ConfigError, match=message):
            expand_resume(argv)


def test_resume_of_a_directory_without_a_run_is_one_line(cli, tmp_path):
    code, _, err = cli(f"resume={tmp_path / 'nothing'}")
    assert code == 2
    one_line(err, f"resume={tmp_path / 'nothing'}: no run there")
    assert not (tmp_path / "nothing").exists()


def test_the_continue_command_quotes_and_points_at_the_run(tmp_path):
    assert continue_command(["rounds=3", "hydra.run.dir=old"], tmp_path / "my run") == f"rlth-run rounds=3 'hydra.run.dir={tmp_path}/my run'"
    assert continue_command([f"resume={tmp_path}", "rounds=4"], tmp_path) == f"rlth-run resume={tmp_path} rounds=4"


# A run whose clean-up after the first Ctrl-C takes long (a slow file system, say): the second Ctrl-C lands in it.
SLOW_STOP = """
import sys, time
from rlth_runner.run import summary
finish = summary.Summary.finish
def slow(self, status, **extra):
    if status == "interrupted":
        print("STOPPING", file=sys.stderr, flush=True)
        time.sleep(60)
    return finish(self, status, **extra)
summary.Summary.finish = slow
from rlth_runner.entry.main import main
sys.argv = ["rlth-run", *sys.argv[1:]]
main()
"""


@pytest.mark.slow
def test_a_second_ctrl_c_exits_at_once_with_one_line(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_STOP, *LONG, f"hydra.run.dir={out}"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stderr, stopping = [], threading.Event()

    def read():
        for line in proc.stderr:
            stderr.append(line)
            if line.startswith("STOPPING"):
                stopping.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    wait_for(out / "rounds" / "round_0" / "metrics.json", proc)
    proc.send_signal(signal.SIGINT)
    assert stopping.wait(60), "".join(stderr)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    assert time.monotonic() - sent < 20  # at once, not after the 60 s clean-up
    reader.join(10)
    text = "".join(stderr)
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    lines = [line for line in text.splitlines() if line.startswith("rlth-run:")]
    assert lines == ["rlth-run: stopped at once by a second Ctrl-C; finished rounds are saved, re-running continues"], text
