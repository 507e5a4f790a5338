"""scripts/four_models.py turns a multirun over `policy` into a table and a plot."""

import importlib.util
from pathlib import Path

from rlth_runner.runner import run

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "four_models.py"


def test_table_and_plot_from_a_digits_sweep(make_cfg, tmp_path, capsys):
    sweep = tmp_path / "sweep"
    for i, policy in enumerate(["finetune", "reinit", "reset"]):
        run(make_cfg("rounds=3", f"policy={policy}", "train.max_steps=2", "pruner.sparsity=0.5", out=sweep / str(i)))
    spec = importlib.util.spec_from_file_location("four_models", SCRIPT)
    four_models = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(four_models)
    four_models.main([str(sweep), "--out", str(tmp_path / "out" / "four")])

    text = (tmp_path / "out" / "four.md").read_text()
    assert "| round | weights left % | dense | pruned + finetuned | pruned + reinit | winning ticket (reset) |" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [r.split(" | ")[1] for r in rows] == ["100.00", "50.00", "25.00"]
    assert all(cell.strip() not in ("", "-") for cell in rows[2].split("|")[4:7])
    assert "n: dense 1, finetune 1, reinit 1, reset 1" in text
    assert (tmp_path / "out" / "four.png").stat().st_size > 10_000
