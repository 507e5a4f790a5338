"""rlth-report on a real multirun made by the real CLI: the numbers it prints are
the jobs' own, groups are never pooled across configs, bad input is one line,
and the plots are readable (plain log-axis ticks, one colour per group)."""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FAST, rlth_run
from rlth_runner.record import RoundRecord
from rlth_runner.report import cli, curves, plots, tables
from rlth_runner.report.groups import Group, group_runs
from rlth_runner.report.runs import Run, load_runs

# Slow tier (an 8-job multirun through the real CLI: about 40 s), so that `make test` stays under 3 minutes.
pytestmark = pytest.mark.slow

GRID = ["pruner.sparsity=0.2,0.5", "seed=0,1", "policy=reset,reinit", "rounds=2", "train.eval_every_n_steps=2"]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """8 jobs: 2 sparsities x 2 seeds x 2 policies, 2 rounds each, with the validation grid."""
    root = tmp_path_factory.mktemp("report")
    rlth_run("-m", *FAST, *GRID, f"hydra.sweep.dir={root / 'sweep'}", cwd=root)
    return root / "sweep"


@pytest.fixture(scope="module")
def report(sweep) -> tuple[Path, subprocess.CompletedProcess]:
    """The installed console script with its defaults (the report goes to <sweep>/report),
    under `-X importtime`, so that its stderr also lists every module it imported."""
    exe = Path(sys.executable).with_name("rlth-report")
    proc = subprocess.run([sys.executable, "-X", "importtime", str(exe), str(sweep)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return sweep / "report", proc


def jobs(sweep: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(sweep.glob("*/summary.json"))]


def label(summary: dict) -> str:
    return f"policy={summary['policy']}, pruner.sparsity={summary['job']['swept']['pruner.sparsity']}"


def md_tables(text: str) -> dict[str, list[dict[str, str]]]:
    """Section title (## or ###) -> the rows (header -> cell) of the first table under it."""
    out, title, header = {}, None, None
    for line in text.splitlines():
        if line.startswith(("## ", "### ")):
            title, header = line.lstrip("#").strip(), None
        elif line.startswith("|") and title is not None:
            cells = [c.strip() for c in line.strip("|").split("|")]
            if header is None:
                header = cells
            elif not set(cells[0]) <= set("-:"):
                out.setdefault(title, []).append(dict(zip(header, cells)))
    return out


def parse(cell: str) -> tuple[float, float | None, int]:
    """Mean, std and the decimals printed, from `12.22 ± 1.57`, `3,466` or `8 ± 0`."""
    numbers = [part.strip().replace(",", "") for part in cell.split("±")]
    decimals = len(numbers[0].partition(".")[2])
    return float(numbers[0]), float(numbers[1]) if len(numbers) > 1 else None, decimals


def expected(summaries: list[dict], k: int, key: str, scale: float = 1.0) -> tuple[float, float | None]:
    values = [scale * s["rounds"][k][key] for s in summaries]
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def test_report_writes_a_self_contained_page_tables_and_plots(report):
    out, proc = report
    pngs = sorted(out.glob("*.png"))
    assert {p.name for p in pngs} == {"accuracy.png", "matching.png", "costs.png", "early_stop.png", "distance.png", "curves_val_acc.png",
                                      "curves_val_loss.png"}
    for png in pngs:
        assert png.read_bytes()[:8] == PNG and png.stat().st_size > 10_000, png
    page = (out / "index.html").read_text()
    assert page.count('src="data:image/png;base64,') == len(pngs)
    assert not re.search(r'src="(?!data:)', page), "the page loads something from outside itself"
    assert "rlth-report " in page and "<table>" in page
    md = (out / "summary.md").read_text()
    assert all(f"]({png.name})" in md for png in pngs)
    assert str(out / "index.html") in proc.stdout and "8 runs in 4 groups" in proc.stdout


def test_table_numbers_are_the_jobs_own_mean_and_std_over_seeds(report, sweep):
    out, _ = report
    tables_md = md_tables((out / "summary.md").read_text())
    columns = {"weights left %": ("density", 100), "test acc %": ("test_acc", 100), "early-stop test acc %": ("early_stop_test_acc", 100),
               "nonzero params": ("params_nonzero", 1), "steps to 99% (steps)": ("steps_to_99", 1),
               "dist from init (rel. L2)": ("dist_from_init", 1), "supermask acc %": ("supermask_acc", 100)}
    by_group: dict[str, list[dict]] = {}
    for s in jobs(sweep):
        by_group.setdefault(label(s), []).append(s)
    for name, summaries in by_group.items():
        rows = tables_md[f"{name} (n=2)"]
        assert [row["round"] for row in rows] == ["0", "1"] and all(row["n"] == "2" for row in rows)
        for k, row in enumerate(rows):
            for header, (key, scale) in columns.items():
                mean, std = expected(summaries, k, key, scale)
                got_mean, got_std, decimals = parse(row[header])
                tolerance = 0.5 * 10**-decimals + 1e-9
                assert abs(got_mean - mean) <= tolerance and abs(got_std - std) <= tolerance, (name, k, header, row[header], mean, std)
            accs = [100 * s["rounds"][k]["test_acc"] for s in summaries]
            assert row["test acc %"] == f"{statistics.fmean(accs):.2f} ± {statistics.stdev(accs):.2f}"
        if "0.5" in name:  # each round of pruner.sparsity=0.5 halves the weights
            assert [row["weights left %"] for row in rows] == ["100.00 ± 0.00", "50.00 ± 0.00"]


def test_verdicts_follow_the_jobs_own_numbers(report, sweep):
    """Per group and round, the 95% interval of two seeds (t(0.975, 1) = 12.706) and the matching verdict
    against round 0, from the jobs' own accuracies (test_report_verdicts.py checks the rules on known numbers)."""
    out, _ = report
    tables_md = md_tables((out / "summary.md").read_text())
    by_group: dict[str, list[dict]] = {}
    for s in jobs(sweep):
        by_group.setdefault(label(s), []).append(s)
    for name, summaries in by_group.items():
        dense_mean, dense_std = expected(summaries, 0, "test_acc", 100)
        for k, row in enumerate(tables_md[f"Verdicts: {name} (n=2)"]):
            mean, std = expected(summaries, k, "test_acc", 100)
            half = 12.706204736174707 * std / 2**0.5
            assert row["95% CI"] == f"[{mean - half:.2f}, {mean + half:.2f}]", (name, k)
            assert row["matching"] == ("dense" if k == 0 else "matching" if mean >= dense_mean - dense_std - 1e-10 else "not matching")


def test_runs_csv_holds_every_run_and_round_as_recorded(report, sweep):
    import csv

    out, _ = report
    rows = list(csv.DictReader(open(out / "runs.csv")))
    assert len(rows) == 8 * 2
    for s in jobs(sweep):
        mine = [row for row in rows if Path(row["run"]).name == s["job"]["dir"]]
        assert [row["group"] for row in mine] == [label(s)] * 2 and [row["seed"] for row in mine] == [str(s["seed"])] * 2
        for row, record in zip(mine, s["rounds"]):
            for key in ("density", "test_acc", "val_acc", "dist_from_init", "supermask_acc", "early_stop_test_acc"):
                assert float(row[key]) == record[key], key
            assert row["early_stop_step"] == str(record["early_stop_step"])  # an integer step count, as recorded
            assert json.loads(row["layer_density"]) == record["layer_density"]
    assert "instability_barrier" in rows[0]


def test_sparsities_are_never_pooled(report, sweep):
    out, _ = report
    md = md_tables((out / "summary.md").read_text())
    overview = {row["group"]: row for row in md["Overview"]}
    assert set(overview) == {f"policy={p}, pruner.sparsity={s}" for p in ("reset", "reinit") for s in ("0.2", "0.5")}
    assert all(row["n"] == "2" and row["seeds"] == "0, 1" for row in overview.values())


def test_early_stop_step_is_in_steps(report, sweep):
    out, _ = report
    md = md_tables((out / "summary.md").read_text())
    for s_label, summaries in {label(s): [t for t in jobs(sweep) if label(t) == label(s)] for s in jobs(sweep)}.items():
        for k, row in enumerate(md[f"{s_label} (n=2)"]):
            steps = [s["rounds"][k]["early_stop_step"] for s in summaries]
            assert all(isinstance(step, int) and step > 1 for step in steps)
            assert row["early-stop step (steps)"] == f"{statistics.fmean(steps):,.0f} ± {statistics.stdev(steps):,.0f}"
    groups, _ = group_runs(load_runs([sweep])[0], None)
    fig = plots.early_stop(groups, plots.colours(groups))
    assert fig.axes[0].get_ylabel() == "early-stop step (optimizer steps)"


def test_unfinished_runs_are_skipped_and_named(sweep, tmp_path, capsys):
    source = sorted(sweep.glob("*_*"))
    for name, job in zip(("ok", "failed", "running", "noconfig"), source):
        shutil.copytree(job, tmp_path / "runs" / name, ignore=shutil.ignore_patterns("*.pt", "report"))
    for name, change in (("failed", {"status": "failed", "error": "ValueError: boom"}), ("running", {"status": "running"})):
        path = tmp_path / "runs" / name / "summary.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    shutil.rmtree(tmp_path / "runs" / "noconfig" / ".hydra")

    assert cli.main([str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert f"rlth-report: skipped {tmp_path / 'runs' / 'failed'}: status failed (ValueError: boom)" in err
    assert any(line.startswith(f"rlth-report: skipped {tmp_path / 'runs' / 'running'}: status running") for line in err)
    assert any(line.startswith(f"rlth-report: skipped {tmp_path / 'runs' / 'noconfig'}: no config") for line in err)
    assert "## Skipped runs" in (tmp_path / "out" / "summary.md").read_text()
    assert "ValueError: boom" in (tmp_path / "out" / "index.html").read_text()

    for name in ("ok", "noconfig"):  # nothing completed: exit 1, each run named
        shutil.rmtree(tmp_path / "runs" / name)
    assert cli.main([str(tmp_path / "runs"), "--out", str(tmp_path / "out2")]) == 1
    assert "rlth-report: error: no completed run under" in capsys.readouterr().err


def test_grouping_by_policy_splits_and_says_so(sweep, tmp_path, capsys):
    assert cli.main([str(sweep), "--group-by", "policy", "--out", str(tmp_path / "by_policy")]) == 0
    err = capsys.readouterr().err.splitlines()
    for policy in ("reset", "reinit"):
        assert f"rlth-report: split policy={policy} into 2 groups: they differ in pruner.sparsity (0.2, 0.5)" in err
    overview = md_tables((tmp_path / "by_policy" / "summary.md").read_text())["Overview"]
    assert [row["group"] for row in overview] == [f"policy={p}, pruner.sparsity={s}" for p in ("reinit", "reset") for s in ("0.2", "0.5")]

    groups, notes = group_runs(load_runs([sweep])[0], ["pruner.sparsity", "policy"])
    assert not notes and [g.label for g in groups] == [f"pruner.sparsity={s}, policy={p}" for s in ("0.2", "0.5") for p in ("reinit", "reset")]


@pytest.mark.parametrize("args, message", [
    (["{empty}"], "rlth-report: error: {empty} holds no run: no summary.json at or below it"),
    (["{empty}/missing"], "rlth-report: error: {empty}/missing does not exist"),
    (["{sweep}", "--group-by", "policy", "no.such_key"], "rlth-report: error: --group-by no.such_key: no run's config has this key"),
    (["{sweep}", "--group-by", "train"], "rlth-report: error: --group-by train: a section of the config, not one value"),
])
def test_bad_input_is_one_error_line(sweep, tmp_path, capsys, args, message):
    (tmp_path / "empty").mkdir()
    fill = {"empty": tmp_path / "empty", "sweep": sweep}
    assert cli.main([a.format(**fill) for a in args] + ["--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith(message.format(**fill)), err
    assert not (tmp_path / "out").exists()


def test_weights_axis_has_plain_labels_down_to_the_smallest_density():
    def labels(percents):
        fig, ((ax,),) = plots.figure()
        ax.plot(percents, range(len(percents)))
        plots.weights_axis(ax, percents)
        fig.draw_without_rendering()
        assert ax.get_xscale() == "log" and ax.xaxis_inverted()
        assert not [t.get_text() for t in ax.get_xminorticklabels() if t.get_text()]
        return sorted((t.get_text() for t in ax.get_xticklabels() if t.get_text()), key=float, reverse=True)

    imp = [100 * 0.8**k for k in range(23)]  # 20% per round: 100% down to 0.74%
    assert labels(imp) == ["100", "50", "20", "10", "5", "2", "1"]
    assert labels([100 * 0.5**k for k in range(10)])[-3:] == ["1", "0.5", "0.2"]
    assert labels([100, 80, 64]) == ["100", "80", "64"]  # too short for 100, 50, 20: its own values


def test_every_plot_gives_a_group_the_same_colour(sweep, tmp_path, monkeypatch):
    runs, _ = load_runs([sweep])
    groups, _ = group_runs(runs, None)
    assert len(set(plots.colours(groups).values())) == len(groups) == 4
    # The report asks for the mapping once and every plot and the page use it: a mapping of
    # our own shows up in every artist a group drew.
    mine = dict(zip((g.label for g in groups), ("#0a0b0c", "#102030", "#405060", "#708090")))
    monkeypatch.setattr(plots, "colours", lambda _: mine)
    drawn, save = [], plots.save
    monkeypatch.setattr(plots, "save", lambda fig, path: drawn.append(fig) or save(fig, path))
    cli.write(tmp_path, groups, [], [], "rlth-report test")
    assert len(drawn) == 7
    from matplotlib.colors import to_hex

    for fig in drawn:
        seen = set()
        for ax in fig.axes:
            for artist in [*ax.lines, *ax.collections]:
                if (gid := artist.get_gid()) is not None:
                    colour = artist.get_color() if hasattr(artist, "get_xdata") else artist.get_edgecolor()
                    colour = colour if isinstance(colour, str) else colour[0] if len(colour) else artist.get_facecolor()[0]
                    assert to_hex(colour) == mine[gid], (fig, gid)
                    seen.add(gid)
        assert seen == set(mine)
        legend = [t.get_text() for t in fig.legends[0].get_texts()]
        assert all(f"{g.label} (n=2)" in legend for g in groups)
    page = (tmp_path / "index.html").read_text()
    assert all(f"background:{colour}" in page for colour in mine.values())


def test_curves_start_at_step_zero_and_use_the_validation_grid(sweep):
    from rlth_runner.report import events

    runs, _ = load_runs([sweep])
    groups, _ = group_runs(runs, None)
    loaded = events.load_curves(runs)
    assert len(loaded) == 16 and all(c.grid for c in loaded.values())
    assert sorted(loaded[runs[0].path, 1].acc)[-1] == runs[0].records[1].train_steps
    fig = curves.round_curves(groups, loaded, plots.colours(groups), "acc")
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 2 and all(ax.get_xlim()[0] == 0 for ax in panels)
    assert panels[0].get_ylabel() == "validation accuracy (%)" and panels[0].get_xlabel() == "optimizer step"


def test_instability_paths_give_a_barrier_column_and_a_plot(sweep, tmp_path):
    jobs_dirs = sorted(sweep.glob("*policy=reset"))[:2]  # pruner.sparsity=0.2, seeds 0 and 1
    barriers = [0.05, 0.15]
    for job, barrier in zip(jobs_dirs, barriers):
        copy = tmp_path / "runs" / job.name
        shutil.copytree(job, copy, ignore=shutil.ignore_patterns("*.pt", "report"))
        points = [[a / 4, 0.1 + (barrier if a == 2 else 0)] for a in range(5)]
        path = {"round": 1, "seed": 0, "metric": "test_error", "points": points, "barrier": barrier}
        (copy / "rounds" / "round_1" / "instability.json").write_text(json.dumps(path))
    assert cli.main([str(tmp_path / "runs")]) == 0
    out = tmp_path / "runs" / "report"
    rows = md_tables((out / "summary.md").read_text())
    row = next(iter(v for k, v in rows.items() if k != "Overview" and not k.startswith("Verdicts")))[1]
    barrier = f"{100 * statistics.fmean(barriers):.2f} ± {100 * statistics.stdev(barriers):.2f}"
    assert row["instability barrier (% error)"] == barrier
    verdict = next(iter(v for k, v in rows.items() if k.startswith("Verdicts: ")))[1]
    assert (verdict["instability barrier (% error)"], verdict["stable"]) == (barrier, "unstable")  # 10% error: over 2%
    assert (out / "instability.png").read_bytes()[:8] == PNG


def record(k: int, **fields) -> RoundRecord:
    base = dict(round=k, density=0.5**k, layer_density={}, params_total=100, params_nonzero=100 // 2**k, hidden_layers=1, macs=100,
                val_acc=0.9, test_acc=0.9, test_loss=0.1)
    return RoundRecord(**{**base, **fields})


def test_growth_adds_hidden_layers_and_regression_shows_errors(tmp_path):
    grow = Run(tmp_path, 0, [record(0), record(1, hidden_layers=2)], {"policy.name": "grow"}, {"policy.name": "grow", "policy.every": 1})
    reset = Run(tmp_path, 0, [record(0), record(1)], {"policy.name": "reset"}, {"policy.name": "reset"})
    groups, notes = group_runs([grow, reset], None)
    assert [g.label for g in groups] == ["policy=grow", "policy=reset"] and not notes  # grow's own option needs no label
    assert "hidden layers" in [c.header for c in tables.columns(groups)]
    teacher = Run(tmp_path, 0, [record(k, val_acc=None, test_acc=None, val_error=0.2, test_error=0.1 * (k + 1)) for k in range(3)], {}, {})
    (group,) = [Group("policy=reset", [teacher])]
    assert [c.header for c in tables.columns([group])][2] == "test error (MSE)"
    assert plots.accuracy([group], plots.colours([group])).axes[0].get_ylabel() == "test error (MSE)"


def test_report_imports_no_torch(report):
    _, proc = report
    imported = {line.rpartition("|")[2].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "rlth_runner.report.cli" in imported and "matplotlib" in imported
    assert not {name for name in imported if name.split(".")[0] in ("torch", "lightning", "pytorch_lightning", "hydra")}


def test_accuracy_against_costs_uses_nonzero_parameters_and_the_compute_spent_to_get_there(tmp_path):
    from rlth_runner.report import costs

    runs = [Run(tmp_path / str(seed), seed, [record(k, train_macs=1000 * (k + 1) + seed, test_acc=0.8 + 0.01 * k) for k in range(3)],
                {}, {}) for seed in (0, 1)]
    (group,) = [Group("policy=reset", runs)]
    # round k costs every round up to it: 1000, 1000 + 2000, ... (+ the seed, per round)
    assert costs.cumulative_macs(group) == {0: [1000, 1001], 1: [3000, 3002], 2: [6000, 6003]}
    fig = costs.accuracy_against_costs([group], plots.colours([group]))
    by_params, by_macs = fig.axes[:2]
    assert list(by_params.lines[0].get_xdata()) == [100, 50, 25]  # params_nonzero of the rounds
    assert list(by_macs.lines[0].get_xdata()) == [1000.5, 3001, 6001.5]
    assert [round(y, 6) for y in by_macs.lines[0].get_ydata()] == [80, 81, 82]


def test_groups_that_differ_in_one_number_get_accuracy_against_it(tmp_path):
    from rlth_runner.report import swept

    def runs(width, accs):
        return [Run(tmp_path / f"{width}_{seed}", seed, [record(0, test_acc=acc, supermask_acc=0.1)], {"model.width": width},
                    {"model.width": width, "seed": seed}) for seed, acc in enumerate(accs)]

    groups = [Group(f"model.width={w}", runs(w, accs)) for w, accs in ((512, [0.8, 0.82]), (128, [0.7, 0.72]), (2048, [0.85, 0.87]))]
    assert swept.swept_number(groups) == "model.width"
    fig = swept.accuracy_against_swept(groups, plots.colours(groups))
    (ax,) = fig.axes
    trend = next(line for line in ax.lines if line.get_label() == "test accuracy, last round")
    assert list(trend.get_xdata()) == [128, 512, 2048] and [round(y, 6) for y in trend.get_ydata()] == [71, 81, 86]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["128", "512", "2048"]
    # two keys differing, or two groups: no such plot
    groups[0].runs[0].settings["train.lr"] = 0.1
    assert swept.swept_number(groups) is None and swept.swept_number(groups[1:]) is None


def test_columns_appear_only_where_some_run_has_the_measure(tmp_path):
    teacher = Run(tmp_path, 0, [record(k, val_acc=None, test_acc=None, val_error=0.2, test_error=0.1, steps_to_target=10 * k)
                                for k in range(2)], {}, {})
    headers = [c.header for c in tables.columns([Group("dataset.N=500", [teacher])])]
    assert "steps to target error (steps)" in headers and "early-stop step (steps)" in headers
    assert "steps to 99% (steps)" not in headers and "subnetwork %" not in headers  # no accuracy curve, no edge-popup
    popup = Run(tmp_path, 0, [record(0, subnetwork_density=0.5)], {}, {})
    assert "subnetwork %" in [c.header for c in tables.columns([Group("train.mode=edge_popup", [popup])])]
