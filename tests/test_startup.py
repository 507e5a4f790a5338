"""`rlth-run --help` and config errors answer before torch and Lightning are imported."""

import subprocess
import sys

import pytest

HEAVY = ("torch", "pytorch_lightning", "lightning_fabric", "lightning")

# Runs the real entry point in a fresh interpreter, then reports which heavy
# packages ended up in sys.modules.
PROBE = f"""
import sys
from rlth_runner.entry.main import main
sys.argv = ["rlth-run", *sys.argv[1:]]
try:
    main()
    code = 0
except SystemExit as exit:
    code = exit.code
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})
print("EXIT", code, "HEAVY", " ".join(heavy), file=sys.stderr)
"""


def probe(*args, cwd):
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("EXIT"), proc.stderr
    code, _, heavy = last.removeprefix("EXIT ").partition(" HEAVY")
    return int(code), heavy.split(), proc


def test_help_does_not_import_torch(tmp_path):
    code, heavy, proc = probe("--help", cwd=tmp_path)
    assert code == 0 and "== Configuration groups ==" in proc.stdout and "rounds: 5" in proc.stdout
    assert heavy == []


@pytest.mark.parametrize("override", ["pruner.sparsity=1.0", "train.optimizer=lion", "rounds=0"])
def test_config_errors_exit_before_torch_is_imported(tmp_path, override):
    code, heavy, proc = probe(override, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert code == 2 and "rlth-run: error:" in proc.stderr
    assert heavy == []


@pytest.mark.slow
def test_the_probe_sees_torch_when_a_run_starts(tmp_path):
    # The control: a valid config goes on to import torch and train.
    code, heavy, _ = probe("rounds=1", "train.max_steps=2", "model.width=8", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert code == 0
    assert "torch" in heavy and "pytorch_lightning" in heavy
