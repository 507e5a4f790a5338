"""experiment=sample_complexity (Zhang et al.'s teacher-student IMP) through the real
CLI on a tiny grid of two training-set sizes: the validation grid measures the
MSE on regression data, steps_to_target is read off it, and rlth-report draws the
test error and the steps to the target per N, with the numbers of the runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from conftest import all_scalars, rlth_run
from rlth_runner.models.build import ModelDataMismatch, build_model
from rlth_runner.report import cli, plots, teacher
from rlth_runner.report.groups import group_runs
from rlth_runner.report.runs import load_runs
from test_report import PNG, md_tables

TARGET = 0.15
TINY = ["rounds=3", "train.max_steps=40", "train.eval_every_n_steps=10", "train.log_every_n_steps=10", f"train.target_error={TARGET}",
        "dataset.val_size=100", "dataset.test_size=200"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sample_complexity")
    rlth_run("-m", "experiment=sample_complexity", "dataset.N=200,400", "seed=0", *TINY, f"hydra.sweep.dir={root / 'sweep'}", cwd=root)
    return root / "sweep"


def summaries(sweep: Path) -> dict[int, dict]:
    """By training-set size N."""
    found = [json.loads(p.read_text()) for p in sweep.glob("*/summary.json")]
    return {int(s["job"]["swept"]["dataset.N"]): s for s in found}


def test_the_grid_measures_the_mse_and_steps_to_target_is_its_first_step_below_the_target(sweep):
    for job in sorted(sweep.glob("*_dataset.N=*")):
        rounds = json.loads((job / "summary.json").read_text())["rounds"]
        scalars = all_scalars(job)
        for r in rounds:
            val = scalars[f"round_{r['round']}/early_stop/val_loss"]
            assert [step for step, _ in val] == list(range(0, 41, 10))  # step 0 included
            assert f"round_{r['round']}/early_stop/test_error" in scalars and f"round_{r['round']}/early_stop/val_acc" not in scalars
            best_step, best = min(val, key=lambda point: point[1])
            assert r["early_stop_step"] == best_step and r["early_stop_val_loss"] == pytest.approx(best, rel=1e-6)
            assert r["early_stop_val_acc"] is None and r["steps_to_99"] is None
            assert r["steps_to_target"] == next((step for step, value in val if value <= TARGET * (1 + 1e-6)), None)
        assert any(r["steps_to_target"] is not None for r in rounds), "the tiny grid should reach the target somewhere"
        assert [round(100 * r["density"], 1) for r in rounds] == [100.0, 80.0, 64.0]


def test_the_report_draws_error_and_steps_per_n_with_the_runs_numbers(sweep):
    assert cli.main([str(sweep)]) == 0
    out = sweep / "report"
    assert (out / "sample_complexity.png").read_bytes()[:8] == PNG
    jobs = summaries(sweep)
    tables = md_tables((out / "summary.md").read_text())
    for n, summary in jobs.items():
        (rows,) = [rows for title, rows in tables.items() if title.startswith(f"dataset.N={n} ")]
        assert [row["test error (MSE)"] for row in rows] == [f"{r['test_error']:.4g}" for r in summary["rounds"]]

    runs, _ = load_runs([sweep])
    groups, _ = group_runs(runs, None)
    assert [g.label for g in groups] == ["dataset.N=200", "dataset.N=400"]
    fig = teacher.sample_complexity(groups, plots.colours(groups))
    error_ax, steps_ax = fig.axes[:2]
    for g, n in zip(groups, (200, 400)):
        (line,) = [ln for ln in error_ax.lines if ln.get_gid() == g.label and ln.get_marker() == "o"]  # not a whisker's cap
        records = jobs[n]["rounds"]
        assert list(line.get_ydata()) == pytest.approx([r["test_error"] for r in records])
        assert list(line.get_xdata()) == pytest.approx([100 * r["density"] for r in records])
        reached = [r for r in records if r["steps_to_target"] is not None]
        steps = [ln for ln in steps_ax.lines if ln.get_gid() == g.label and ln.get_marker() == "o"]
        assert not reached or list(steps[0].get_ydata()) == [r["steps_to_target"] for r in reached]
    marks = [ln for ln in error_ax.lines if ln.get_linestyle() == ":"]
    assert len(marks) == 1 and marks[0].get_xdata()[0] == pytest.approx(20.0)  # r/d = 20 / 100
    assert any("r/d = 20%" in t.get_text() for t in fig.legends[0].get_texts())


def test_the_plot_is_only_for_teacher_runs(sweep):
    runs, _ = load_runs([sweep])
    for run in runs:
        run.config["dataset.name"] = "digits"
    groups, _ = group_runs(runs, None)
    assert teacher.sample_complexity(groups, plots.colours(groups)) is None


def test_the_student_is_the_mean_of_relu_neurons_and_refuses_classes():
    from omegaconf import OmegaConf

    from rlth_runner.data.bundle import DataBundle

    x = torch.tensor([[1.0, -2.0, 0.5], [0.0, 1.0, 1.0]])
    data = DataBundle("teacher", (x, torch.zeros(2, 1)), (x, torch.zeros(2, 1)), (x, torch.zeros(2, 1)), (3,), 1, task="regression")
    cfg = OmegaConf.create({"_target_": "rlth_runner.models.student.Student", "name": "student", "width": 2})
    net = build_model(cfg, data)
    with torch.no_grad():
        net.hidden.weight.copy_(torch.tensor([[1.0, 0.0, 2.0], [0.0, -1.0, 0.0]]))
    expected = [(2.0 + 2.0) / 2, (2.0 + 0.0) / 2]  # relu(x . w_j), averaged over the 2 neurons
    assert net(x).squeeze(1).tolist() == expected
    classes = DataBundle("digits", (x, torch.zeros(2)), (x, torch.zeros(2)), (x, torch.zeros(2)), (3,), 10)
    with pytest.raises(ModelDataMismatch, match="needs regression data such as dataset=teacher, not 10 classes"):
        build_model(cfg, classes)


def test_steps_to_target_is_the_first_grid_step_at_or_below_it_for_either_task():
    from types import SimpleNamespace

    from rlth_runner.training.early_stop import EarlyStopTracker

    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])
    labels = (x, torch.tensor([0, 1, 1, 0]))  # the net below gets the first three right: error 1/4
    net = torch.nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
    tracker = EarlyStopTracker(10, [labels], [labels])
    tracker._check(SimpleNamespace(global_step=0, logger=None), SimpleNamespace(net=net))
    assert tracker.errors == [(0, 0.25)] and tracker.curve == [(0, 0.75)]

    tracker.errors = [(0, 0.5), (10, 0.2), (20, 0.1), (30, 0.15)]
    assert (tracker.steps_to(0.15), tracker.steps_to(0.1), tracker.steps_to(0.6)) == (20, 20, 0)
    assert tracker.steps_to(0.05) is None and tracker.steps_to(None) is None
