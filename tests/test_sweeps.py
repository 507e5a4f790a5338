"""A Hydra multirun: one directory per job, each a complete run."""

import json

import pytest

from conftest import FAST, rlth_run


@pytest.mark.slow
def test_multirun_grid_writes_one_complete_run_per_job(tmp_path):
    sweep = tmp_path / "sweep"
    rlth_run("-m", *FAST, "rounds=2", "seed=1,2", "pruner.sparsity=0.2,0.5", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and (p / "summary.json").exists())
    assert len(jobs) == 4
    seen = set()
    for job in jobs:
        summary = json.loads((job / "summary.json").read_text())
        assert summary["status"] == "completed"
        assert len(summary["rounds"]) == 2
        overrides = (job / ".hydra" / "overrides.yaml").read_text()
        seen.add(tuple(line for line in overrides.splitlines() if "seed=" in line or "sparsity=" in line))
        density = summary["rounds"][1]["density"]
        assert density == pytest.approx(0.8 if "sparsity=0.2" in overrides else 0.5, abs=1e-3)
    assert len(seen) == 4
