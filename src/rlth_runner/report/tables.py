"""The tables: runs.csv (every run and round, as recorded) and, per group and
round, mean ± sample std over seeds (summary.md and the page)."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from ..record import RoundRecord
from . import stats
from .groups import Group
from .stats import Stat

DASH = "-"  # no run of the row has the value


@dataclass(frozen=True)
class Column:
    header: str
    key: str  # a RoundRecord field (stats.value)
    scale: float = 1.0
    kind: str = "percent"  # percent | steps | distance | error | ratio


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[str]]

    def markdown(self) -> str:
        lines = [f"| {' | '.join(self.header)} |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(self.header))) + "|"]
        lines += [f"| {' | '.join(cell.replace('|', '/') for cell in row)} |" for row in self.rows]
        return "\n".join(lines)


def columns(groups: list[Group]) -> list[Column]:
    """The per-round columns; the instability barrier and hidden layers (grow) only where some run has them."""
    if stats.regression(groups):
        scores = [Column("test error (MSE)", "test_error", kind="error"), Column("early-stop step (steps)", "early_stop_step", kind="steps")]
    else:
        scores = [Column("test acc %", "test_acc", 100), Column("early-stop step (steps)", "early_stop_step", kind="steps"),
                  Column("early-stop test acc %", "early_stop_test_acc", 100)]
    out = [Column("weights left %", "density", 100), Column("nonzero params", "params_nonzero", kind="steps"), *scores]
    # Measures that only some runs have (accuracy curves, train.target_error, train.mode=edge_popup): where they do.
    for column in (Column("steps to 99% (steps)", "steps_to_99", kind="steps"), Column("steps to target error (steps)", "steps_to_target", kind="steps"),
                   Column("subnetwork %", "subnetwork_density", 100),
                   Column("compacted speed-up x (batch 256)", "compact_speedup", kind="ratio"),
                   Column("CSR speed-up x (batch 256)", "csr_speedup", kind="ratio")):
        if stats.any_value(groups, column.key):
            out.append(column)
    out.append(Column("dist from init (rel. L2)", "dist_from_init", kind="distance"))
    if not stats.regression(groups):
        out.append(Column("supermask acc %", "supermask_acc", 100))
    if stats.any_value(groups, "instability_barrier"):
        out.append(Column("instability barrier (% error)", "instability_barrier", 100))
    depths = {r.hidden_layers for g in groups for run in g.runs for r in run.records}
    if len(depths - {None}) > 1:
        out.append(Column("hidden layers", "hidden_layers", kind="steps"))
    return out


def number(x: float, kind: str) -> str:
    if kind == "steps":
        return f"{x:,.0f}"
    if kind == "distance":
        return f"{x:.3f}"
    if kind == "error":
        return f"{x:.4g}"
    if kind == "ratio":
        return f"{x:.2f}"
    return f"{x:.2f}" if abs(x) >= 0.1 or x == 0 else f"{x:.2g}"


def cell(s: Stat | None, kind: str, row_n: int) -> str:
    if s is None:
        return DASH
    text = number(s.mean, kind) if s.std is None else f"{number(s.mean, kind)} ± {number(s.std, kind)}"
    return text if s.n == row_n else f"{text} (n={s.n})"


def group_table(group: Group, cols: list[Column]) -> Table:
    rows = []
    for k in stats.rounds(group):
        n = len(stats.at_round(group, k))
        rows.append([str(k), str(n), *(cell(stats.round_stat(group, k, c.key, c.scale), c.kind, n) for c in cols)])
    return Table(group.legend, ["round", "n", *(c.header for c in cols)], rows)


def overview(groups: list[Group], cols: list[Column]) -> Table:
    """One row per group: round 0 (the dense network) and the last round every run reached."""
    score = next(c for c in cols if c.key in ("test_acc", "test_error"))
    header = ["group", "n", "seeds", f"dense {score.header}", "last round", "weights left %", score.header]
    if any(c.key == "early_stop_step" for c in cols):
        header.append("early-stop step (steps)")
    rows = []
    for g in groups:
        last, n = stats.last_common_round(g), g.n
        row = [g.label, str(n), ", ".join(str(run.seed) for run in g.runs), cell(stats.round_stat(g, 0, score.key, score.scale), score.kind, n),
               str(last), cell(stats.round_stat(g, last, "density", 100), "percent", n),
               cell(stats.round_stat(g, last, score.key, score.scale), score.kind, n)]
        if len(header) > len(row):
            row.append(cell(stats.round_stat(g, last, "early_stop_step"), "steps", n))
        rows.append(row)
    return Table("Overview", header, rows)


def csv_fields() -> list[str]:
    fields = RoundRecord.keys()
    return ["run", "group", "seed", *fields, *(["instability_barrier"] if "instability_barrier" not in fields else [])]


def write_csv(groups: list[Group], path: Path) -> None:
    fields = csv_fields()
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for g in groups:
            for run in g.runs:
                for r in run.records:
                    row = {**r.to_dict(), "run": str(run.path), "group": g.label, "seed": run.seed,
                           "layer_density": json.dumps(r.layer_density), "instability_barrier": run.barrier(r)}
                    writer.writerow({key: "" if row.get(key) is None else row.get(key) for key in fields})


def markdown(groups: list[Group], command: str, skipped: list, plots: list[Path], verdicts: list[str] = ()) -> str:
    """The report in markdown; `verdicts` (verdict_tables.markdown) follows the overview."""
    cols = columns(groups)
    runs = sum(g.n for g in groups)
    intro = (f"Made by `{command}`: {runs} run{'s' * (runs != 1)} in {len(groups)} group{'s' * (len(groups) != 1)}. "
             "Each group is one config; its runs differ only in the seed. Cells are the mean ± sample standard deviation over "
             "the runs (n), or the one value where n=1. Round 0 is the dense network. Verdicts gives 95% confidence intervals, "
             "which rounds are matching and stable, and each group's sparsest matching point.")
    lines = ["# Run report", "", intro, "", "## Overview", "", overview(groups, cols).markdown(), "", *verdicts]
    for g in groups:
        runs_line = "Runs: " + ", ".join(f"`{run.path}` (seed {run.seed})" for run in g.runs)
        lines += [f"## {g.legend}", "", runs_line, "", group_table(g, cols).markdown(), ""]
    if plots:
        lines += ["## Plots", "", *(f"![{p.stem}]({p.name})" for p in plots), ""]
    if skipped:
        lines += ["## Skipped runs", "", *(f"- `{s.path}`: {s.reason}" for s in skipped), ""]
    return "\n".join(lines)
