"""scripts/bench.py keeps working: a tiny run, checked for its output format only.

Timings on a shared machine are noise at this size, so nothing here asserts
on them.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "scripts" / "bench.py"


def test_bench_runs_a_tiny_case_and_ends_with_the_ratio(tmp_path):
    args = ["--quick", "--steps", "12", "--reps", "1", "--threads", "1", "--cases", "lenet,imp"]
    proc = subprocess.run([sys.executable, str(BENCH), *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "== lenet_300_100" in out and "== imp" in out
    for needle in ("rep 1: reference", "per step (median): reference", "ratio rlth/reference: median",
                   "mask overhead (rlth vs rlth dense)", "peak RSS", "seconds per round (fit + test)"):
        assert needle in out, f"missing {needle!r} in:\n{out}"
    last = out.strip().splitlines()[-1]
    match = re.fullmatch(r"ratio (\d+\.\d+)", last)
    assert match, f"last line is {last!r}"
    assert float(match.group(1)) > 0

