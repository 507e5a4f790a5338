"""scripts/compare_runs.py on real (tiny) runs: grouping, mean ± std, plots."""

import importlib.util
import json
import statistics
from pathlib import Path

import pytest

from rlth_runner.runner import run

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "compare_runs.py"


@pytest.fixture(scope="module")
def compare():
    spec = importlib.util.spec_from_file_location("compare_runs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compare_runs_groups_by_policy_with_mean_and_std(make_cfg, tmp_path, compare):
    sweep = tmp_path / "sweep"
    for i, (policy, seed) in enumerate([("grow", 0), ("grow", 1), ("reset", 0)]):
        run(make_cfg("rounds=2", f"policy={policy}", f"seed={seed}", "model.hidden_layers=0", out=sweep / str(i)))
    (tmp_path / "failed").mkdir()
    (tmp_path / "failed" / "summary.json").write_text(json.dumps({"status": "failed", "policy": "grow", "rounds": []}))

    out = tmp_path / "cmp"
    assert compare.main([str(sweep), str(tmp_path / "failed"), "--out", str(out)]) == 0
    md = (out / "compare.md").read_text()
    assert "### grow (2 runs)" in md and "### reset (1 runs)" in md
    grow = [json.loads((sweep / str(i) / "summary.json").read_text())["rounds"][1] for i in (0, 1)]
    accs = [100 * r["test_acc"] for r in grow]
    expected = f"{statistics.fmean(accs):.2f} ± {statistics.stdev(accs):.2f}"
    row = next(line for line in md.splitlines() if line.startswith("| grow |"))
    assert expected in row, (expected, row)
    for png in ("rounds.png", "curves_val_acc.png", "curves_train_loss_epoch.png"):
        assert (out / png).stat().st_size > 1000
        assert f"]({png})" in md


def test_compare_runs_fails_without_completed_runs(tmp_path, compare):
    assert compare.main([str(tmp_path), "--out", str(tmp_path / "cmp")]) == 1
