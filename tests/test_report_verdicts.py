"""rlth-report's verdicts (issue 24), on run directories written by hand, whose
means, standard deviations and intervals are known: the 95% Student-t interval
per group and round (none for one seed), matching and stable by Frankle et al.
2020's rules, the sparsest matching point per group in summary.md and
verdicts.csv, and the plot comparing the methods with their confidence bands."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from rlth_runner.record import RoundRecord
from rlth_runner.report import bands, cli, plots, verdicts
from rlth_runner.report.confidence import Interval, interval, t_quantile
from rlth_runner.report.groups import group_runs
from rlth_runner.report.runs import load_runs
from rlth_runner.report.stats import Stat

PNG = b"\x89PNG\r\n\x1a\n"
T2 = 4.302652729749464  # t(0.975, 2): three seeds
T1 = 12.706204736174707  # t(0.975, 1): two seeds

# policy -> one list of (test_acc, instability_barrier) per seed, rounds 0, 1, ...; round k keeps 0.5**k of the weights.
RUNS = {
    # dense 92 ± 2: matching from 90; rounds 1 and 2 match (92, 90.5), round 3 does not (85); round 1 stable, 3 unstable
    "reset": [[(0.90, None), (0.91, 0.010), (0.900, None), (0.84, 0.03)],
              [(0.92, None), (0.92, 0.012), (0.905, None), (0.85, 0.04)],
              [(0.94, None), (0.93, 0.014), (0.910, None), (0.86, 0.05)]],
    # dense 92 ± 1.41 (two seeds): matching from 90.59; nothing matches
    "reinit": [[(0.91, None), (0.89, None), (0.80, None)],
               [(0.93, None), (0.91, None), (0.82, None)]],
    # one seed: no std, so matching from the dense accuracy itself, 90; round 2 equals it, round 3 falls short
    "rewind": [[(0.90, None), (0.91, None), (0.90, None), (0.89, None)]],
}


def record(k: int, acc: float, barrier: float | None) -> dict:
    return RoundRecord(round=k, density=0.5**k, layer_density={}, params_total=100, params_nonzero=100 // 2**k, hidden_layers=None,
                       macs=100, val_acc=acc, test_acc=acc, test_loss=0.1, instability_barrier=barrier).to_dict()


def write_run(path: Path, seed: int, config: str, rounds: list[dict], pruner: str = "magnitude") -> Path:
    """A completed run directory as rlth-run leaves it, as far as rlth-report reads it."""
    (path / ".hydra").mkdir(parents=True)
    (path / ".hydra" / "config.yaml").write_text(f"seed: {seed}\npruner:\n  name: {pruner}\n  sparsity: 0.5\n{config}")
    (path / "summary.json").write_text(json.dumps({"status": "completed", "seed": seed, "rounds": rounds}))
    for r in rounds:
        (path / "rounds" / f"round_{r['round']}").mkdir(parents=True)
        (path / "rounds" / f"round_{r['round']}" / "metrics.json").write_text(json.dumps(r))
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("verdicts")
    for policy, seeds in RUNS.items():
        for seed, rounds in enumerate(seeds):
            write_run(root / "runs" / f"{policy}_{seed}", seed, f"policy:\n  name: {policy}\n",
                      [record(k, acc, barrier) for k, (acc, barrier) in enumerate(rounds)])
    assert cli.main([str(root / "runs"), "--out", str(root / "report")]) == 0
    return root / "report"


def sections(text: str) -> dict[str, list[dict[str, str]]]:
    """Heading (## or ###) -> the rows (header -> cell) of the first table under it."""
    out, title, header = {}, None, None
    for line in text.splitlines():
        if line.startswith("#"):
            title, header = line.lstrip("#").strip(), None
        elif line.startswith("|") and title is not None:
            cells = [c.strip() for c in line.strip("|").split("|")]
            if header is None:
                header = cells
            elif not set(cells[0]) <= set("-:"):
                out.setdefault(title, []).append(dict(zip(header, cells)))
    return out


def test_t_quantiles_are_the_tables():
    table = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 9: 2.262, 10: 2.228, 20: 2.086, 29: 2.045, 30: 2.042, 120: 1.980}
    assert {df: round(t_quantile(0.975, df), 3) for df in table} == table
    assert round(t_quantile(0.95, 1), 3) == 6.314 and round(t_quantile(0.995, 4), 3) == 4.604 and round(t_quantile(0.9, 7), 3) == 1.415
    assert t_quantile(0.025, 4) == -t_quantile(0.975, 4) and t_quantile(0.5, 3) == 0.0
    assert abs(t_quantile(0.975, 10**6) - 1.959966) < 1e-5  # the normal's 97.5% point
    assert math.isclose(t_quantile(0.975, 1), T1, rel_tol=1e-12) and math.isclose(t_quantile(0.975, 2), T2, rel_tol=1e-12)
    with pytest.raises(ValueError):
        t_quantile(1.0, 3)


def test_t_quantiles_agree_with_scipy_where_it_is_installed():
    scipy_t = pytest.importorskip("scipy.stats").t
    for df in [*range(1, 41), 60, 100, 1000]:
        for p in (0.6, 0.9, 0.95, 0.975, 0.99, 0.995, 0.9995):
            assert math.isclose(t_quantile(p, df), scipy_t.ppf(p, df), rel_tol=1e-9), (p, df)


def test_an_interval_needs_two_seeds():
    assert interval(Stat(0.9, None, 1)) is None and interval(None) is None
    got = interval(Stat(0.92, 0.02, 3))
    assert isinstance(got, Interval) and math.isclose(got.low, 0.92 - T2 * 0.02 / math.sqrt(3)) and got.t == t_quantile(0.975, 2)


def test_summary_states_the_rules_intervals_and_verdicts(report):
    md = (report / "summary.md").read_text()
    assert "mean ± t(0.975, n-1) × s / √n" in md and "One seed (n=1) gives no interval" in md
    assert "at least the dense network's mean minus one standard deviation" in md and "under 2% test error (0.02)" in md
    tables = sections(md)
    assert tables["Verdicts: policy=reset (n=3)"] == [
        {"round": "0", "n": "3", "weights left %": "100.00", "test acc %": "92.00 ± 2.00", "95% CI": "[87.03, 96.97]",
         "matching": "dense", "instability barrier (% error)": "-", "stable": "-"},
        {"round": "1", "n": "3", "weights left %": "50.00", "test acc %": "92.00 ± 1.00", "95% CI": "[89.52, 94.48]",
         "matching": "matching", "instability barrier (% error)": "1.20 ± 0.20", "stable": "stable"},
        {"round": "2", "n": "3", "weights left %": "25.00", "test acc %": "90.50 ± 0.50", "95% CI": "[89.26, 91.74]",
         "matching": "matching", "instability barrier (% error)": "-", "stable": "-"},
        {"round": "3", "n": "3", "weights left %": "12.50", "test acc %": "85.00 ± 1.00", "95% CI": "[82.52, 87.48]",
         "matching": "not matching", "instability barrier (% error)": "4.00 ± 1.00", "stable": "unstable"},
    ]
    reinit = tables["Verdicts: policy=reinit (n=2)"]  # 92 ± 12.706 × 1.414 / √2: the interval of two seeds passes 100%
    assert [(r["95% CI"], r["matching"]) for r in reinit] == [("[79.29, 104.71]", "dense"), ("[77.29, 102.71]", "not matching"),
                                                              ("[68.29, 93.71]", "not matching")]
    rewind = tables["Verdicts: policy=rewind (n=1)"]
    assert [(r["test acc %"], r["95% CI"], r["matching"]) for r in rewind] == [
        ("90.00", "none (n=1)", "dense"), ("91.00", "none (n=1)", "matching"), ("90.00", "none (n=1)", "matching"),
        ("89.00", "none (n=1)", "not matching")]
    headline = {row["group"]: row for row in tables["Verdicts"]}
    assert headline == {
        "policy=reinit": {"group": "policy=reinit", "n": "2", "dense test acc %": "92.00 ± 1.41", "matching when test acc % ≥": "90.59",
                          "sparsest matching weights left %": "none", "round": "-", "test acc %": "-", "95% CI": "-"},
        "policy=reset": {"group": "policy=reset", "n": "3", "dense test acc %": "92.00 ± 2.00", "matching when test acc % ≥": "90.00",
                         "sparsest matching weights left %": "25.00", "round": "2", "test acc %": "90.50 ± 0.50", "95% CI": "[89.26, 91.74]"},
        "policy=rewind": {"group": "policy=rewind", "n": "1", "dense test acc %": "90.00", "matching when test acc % ≥": "90.00",
                          "sparsest matching weights left %": "25.00", "round": "2", "test acc %": "90.00", "95% CI": "none (n=1)"},
    }


def test_verdicts_csv_has_every_group_and_round_in_the_records_units(report):
    rows = {(row["group"], int(row["round"])): row for row in csv.DictReader(open(report / "verdicts.csv"))}
    assert len(rows) == 4 + 3 + 4
    half = T2 * 0.01 / math.sqrt(3)
    reset1 = rows["policy=reset", 1]
    for key, want in (("density", 0.5), ("test_acc_mean", 0.92), ("test_acc_std", 0.01), ("ci95_low", 0.92 - half),
                      ("ci95_high", 0.92 + half), ("t_quantile", T2), ("dense_mean", 0.92), ("dense_std", 0.02),
                      ("matching_threshold", 0.90), ("instability_barrier_mean", 0.012), ("sparsest_matching_density", 0.25)):
        assert math.isclose(float(reset1[key]), want, rel_tol=1e-9), key
    assert (reset1["matching"], reset1["stable"], reset1["dense_from"]) == ("true", "true", "round 0")
    assert (rows["policy=reset", 3]["matching"], rows["policy=reset", 3]["stable"]) == ("false", "false")
    assert rows["policy=reset", 0]["matching"] == "" and rows["policy=reset", 2]["stable"] == ""  # the reference; no barrier
    assert math.isclose(float(rows["policy=reinit", 0]["ci95_high"]), 0.92 + T1 * math.sqrt(2) * 0.01 / math.sqrt(2), rel_tol=1e-9)
    assert all(rows["policy=reinit", k]["sparsest_matching_density"] == "" for k in range(3))
    rewind = [rows["policy=rewind", k] for k in range(4)]
    assert [(r["ci95_low"], r["test_acc_std"], r["matching"]) for r in rewind] == [("", "", ""), ("", "", "true"), ("", "", "true"),
                                                                                   ("", "", "false")]
    assert float(rewind[0]["matching_threshold"]) == 0.90 and float(rewind[3]["sparsest_matching_density"]) == 0.25


def test_the_methods_are_compared_with_confidence_bands(report):
    assert (report / "matching.png").read_bytes()[:8] == PNG
    page = (report / "index.html").read_text()
    assert page.count('src="data:image/png;base64,') == len(list(report.glob("*.png")))
    assert "<h2>Verdicts</h2>" in page and "Sparsest matching point per group" in page and "verdicts.csv" in page
    assert "![matching](matching.png)" in (report / "summary.md").read_text()

    groups, _ = group_runs(load_runs([report.parent / "runs"])[0], None)
    found = verdicts.verdicts(groups)
    colours = plots.colours(groups)
    (ax,) = bands.matching(found, colours).axes
    band = {c.get_gid(): c for c in ax.collections if c.get_gid()}
    assert set(band) == {"policy=reinit", "policy=reset"}  # one seed: no band
    low, high = band["policy=reset"].get_paths()[0].vertices[:, 1].min(), band["policy=reset"].get_paths()[0].vertices[:, 1].max()
    assert math.isclose(low, 85 - 100 * T2 * 0.01 / math.sqrt(3)) and math.isclose(high, 92 + 100 * T2 * 0.02 / math.sqrt(3))
    stars = {line.get_gid(): (line.get_xdata()[0], line.get_ydata()[0]) for line in ax.lines if line.get_marker() == "*" and line.get_gid()}
    assert stars == {"policy=reset": (25.0, pytest.approx(90.5)), "policy=rewind": (25.0, pytest.approx(90.0))}
    assert ax.get_xscale() == "log" and ax.xaxis_inverted()
    # one group, or groups that differ in no method (here: only in the learning rate), get no such plot
    assert bands.matching(found[:1], colours) is None
    for i, g in enumerate(groups):
        for run in g.runs:
            run.settings.update({"policy.name": "reset", "train.lr": 0.1 * (i + 1)})
    assert not verdicts.compared(groups) and bands.matching(verdicts.verdicts(groups), colours) is None


def test_a_branch_is_compared_with_its_parents_dense_round(tmp_path):
    parent = write_run(tmp_path / "runs" / "ticket", 0, "policy:\n  name: reset\n",
                       [record(0, 0.90, None), record(1, 0.91, None), record(2, 0.88, None)])
    write_run(parent / "branches" / "reinit", 0, f"policy:\n  name: reset\nbranch:\n  kind: reinit\n  from: {parent}\n",
              [record(1, 0.905, None), record(2, 0.85, None)])
    assert cli.main([str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    tables = sections((tmp_path / "out" / "summary.md").read_text())
    branch = next(rows for title, rows in tables.items() if title.startswith("Verdicts: branch") and "reinit" in title)
    assert [(r["round"], r["matching"]) for r in branch] == [("1", "matching"), ("2", "not matching")]
    headline = next(row for row in tables["Verdicts"] if "reinit" in row["group"])
    assert headline["dense test acc %"] == "90.00 (parents)" and headline["sparsest matching weights left %"] == "50.00"
    assert (tmp_path / "out" / "matching.png").exists()  # the run and its branch differ in the branch


def test_a_group_pruned_from_round_0_is_compared_with_the_dense_runs_of_its_setup(tmp_path):
    """Pruning at initialisation has no dense round: its round 0 and its branch's are judged
    against the IMP runs' dense round 0 (the same data, model and training), 92 ± 2 here."""
    setup = "dataset:\n  name: digits\ntrain:\n  lr: 0.001\n"
    for seed, acc in enumerate((0.90, 0.92, 0.94)):
        write_run(tmp_path / "runs" / f"imp_{seed}", seed, f"policy:\n  name: reset\n{setup}", [record(0, acc, None), record(1, acc, None)])
    pruned = lambda acc: [{**record(0, acc, None), "density": 0.1}]  # noqa: E731
    snip = [write_run(tmp_path / "runs" / f"snip_{seed}", seed, f"policy:\n  name: reset\n{setup}", pruned(acc), pruner="snip")
            for seed, acc in enumerate((0.91, 0.90, 0.92))]
    for seed, parent in enumerate(snip):
        write_run(parent / "branches" / "invert", seed, f"policy:\n  name: reset\n{setup}branch:\n  kind: invert\n  from: {parent}\n",
                  pruned(0.5 + seed / 100), pruner="snip")
    # Another learning rate is another setup: not a dense reference for the groups above.
    write_run(tmp_path / "runs" / "other_lr", 0, "policy:\n  name: reset\ndataset:\n  name: digits\ntrain:\n  lr: 0.1\n", [record(0, 0.10, None)])
    assert cli.main([str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "summary.md").read_text()
    assert "same dataset, model and training settings" in text
    headline = {row["group"]: row for row in sections(text)["Verdicts"]}
    at_init = next(row for group, row in headline.items() if "snip" in group and "invert" not in group)
    inverted = next(row for group, row in headline.items() if "invert" in group)
    assert at_init["dense test acc %"] == inverted["dense test acc %"] == "92.00 ± 2.00 (same setup)"
    assert at_init["matching when test acc % ≥"] == "90.00" and at_init["sparsest matching weights left %"] == "10.00"
    assert inverted["sparsest matching weights left %"] == "none"
