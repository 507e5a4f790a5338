"""scripts/bench.py keeps working, and what it times is the same training both ways.

Each repetition prints `same work: steps <n> vs <n>, final loss <a> vs <b>,
max weight difference <d>` for the plain PyTorch reference and rlth-runner's
training path: from the same initial weights, on the same batches, with the
same Adam, both must take the requested steps and end at the same weights (up
to float rounding). That is a check of the training path itself, and what
makes the timing ratio meaningful.

Timings on a shared machine are noise at this size, so nothing here asserts
on them.
"""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "scripts" / "bench.py"
SAME_WORK = re.compile(r"rep (\d+) same work: steps (\d+) vs (\d+), final loss (\S+) vs (\S+), max weight difference (\S+)")


def same_work(out: str) -> list[tuple]:
    """(rep, reference steps, rlth steps, reference loss, rlth loss, max weight difference) per repetition."""
    return [(int(r), int(a), int(b), float(la), float(lb), float(d)) for r, a, b, la, lb, d in SAME_WORK.findall(out)]


def assert_same_work(out: str, steps: int, reps: int) -> None:
    rows = same_work(out)
    assert [row[0] for row in rows] == list(range(1, reps + 1)), out
    for _, ref_steps, rlth_steps, ref_loss, rlth_loss, diff in rows:
        assert ref_steps == rlth_steps == steps, out
        assert rlth_loss == pytest.approx(ref_loss, rel=1e-4) and diff <= 1e-4, out


@pytest.fixture(scope="module")
def bench():
    """scripts/bench.py as a module, to call its main() in this process."""
    name = "rlth_bench_script"
    spec = importlib.util.spec_from_file_location(name, BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[name]


def test_rlth_trains_exactly_like_the_plain_pytorch_loop(bench, capsys, monkeypatch):
    code = bench.main(["--steps", "6", "--reps", "1", "--cases", "lenet"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert_same_work(out, steps=6, reps=1)

    # The control: a reference that draws other batches ends elsewhere, and the script says so.
    epoch_shuffle = bench.EpochShuffle
    monkeypatch.setattr(bench, "EpochShuffle", lambda n, size, shuffle, seed: epoch_shuffle(n, size, shuffle, seed + 1))
    code = bench.main(["--steps", "6", "--reps", "1", "--cases", "lenet"])
    captured = capsys.readouterr()
    ((_, ref_steps, rlth_steps, _, _, diff),) = same_work(captured.out)
    assert code == 1 and "NOT the same work" in captured.out and "did not do the same work" in captured.err
    assert ref_steps == rlth_steps == 6 and diff > 1e-4


@pytest.mark.slow
def test_bench_runs_a_tiny_case_and_ends_with_the_ratio(tmp_path):
    args = ["--quick", "--steps", "12", "--reps", "2", "--threads", "1", "--cases", "lenet,imp"]
    proc = subprocess.run([sys.executable, str(BENCH), *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "== lenet_300_100" in out and "== imp" in out
    for needle in ("rep 1: reference", "per step (median): reference", "ratio rlth/reference: median",
                   "mask overhead (rlth vs rlth dense)", "peak RSS", "seconds per round (fit + test)"):
        assert needle in out, f"missing {needle!r} in:\n{out}"
    assert_same_work(out, steps=12, reps=2)
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"ratio \d+\.\d+", last), f"last line is {last!r}"
