"""The verdicts (verdicts.py) as the report shows them: the rules in words, each
group's sparsest matching point, and per round the 95% interval, matching and
stable, in summary.md and index.html; and verdicts.csv, one row per group and round."""

from __future__ import annotations

import csv
import html
from pathlib import Path

from .page import table_html
from .stats import Stat
from .tables import DASH, Table, cell, number
from .verdicts import PARENTS, REFERENCE, SAME_SETUP, GroupVerdict, RoundVerdict, Score

BARRIER = "instability barrier (% error)"


def rules(found: list[GroupVerdict]) -> list[str]:
    s = found[0].score
    what, bound, sign = (("test accuracy", "at least", "minus") if s.higher_is_better else ("test error (MSE)", "at most", "plus"))
    return [
        "95% CI: Student's t interval of the mean over the seeds, mean ± t(0.975, n-1) × s / √n, where s is the sample standard "
        "deviation and n the runs that reached the round. One seed (n=1) gives no interval: none is shown.",
        f"matching (Frankle et al. 2020): a pruned round whose mean {what} is {bound} the dense network's mean {sign} one "
        f"standard deviation of the dense network over its seeds. With one dense seed there is no standard deviation: "
        f"matching when {bound} the dense {what}. The dense network is the group's round 0; a branch, which has no "
        "round 0, is compared with its parents' round 0 when the report holds them. A round 0 already pruned (pruning at "
        "initialisation, gradual pruning) is no dense network: such a group, or its branch, is compared with the dense round 0 "
        "of the report's runs with the same dataset, model and training settings (marked 'same setup').",
        "stable (Frankle et al. 2020): a round whose instability barrier, averaged over the seeds, is under 2% test error "
        "(0.02); unstable at 2% or more. Only rounds with a barrier (analysis.instability) get this verdict.",
        "sparsest matching: the fewest weights remaining among a group's matching rounds; none when no pruned round matches.",
    ]


def scaled(s: Stat, by: float) -> Stat:
    return Stat(by * s.mean, None if s.std is None else by * s.std, s.n)


def interval_cell(r: RoundVerdict, score: Score) -> str:
    if r.score is None:
        return DASH
    if r.interval is None:
        return f"none (n={r.score.n})"
    return f"[{number(score.scale * r.interval.low, score.kind)}, {number(score.scale * r.interval.high, score.kind)}]"


def matching_cell(v: GroupVerdict, r: RoundVerdict) -> str:
    if r.matching is None:
        return "dense" if r.round == 0 and v.dense_from == REFERENCE else DASH
    return "matching" if r.matching else "not matching"


def headline(found: list[GroupVerdict]) -> Table:
    s = found[0].score
    header = ["group", "n", f"dense {s.header}", f"matching when {s.header} {'≥' if s.higher_is_better else '≤'}",
              "sparsest matching weights left %", "round", s.header, "95% CI"]
    rows = []
    for v in found:
        n = v.group.n
        dense = DASH if v.dense is None else cell(scaled(v.dense, s.scale), s.kind, n) + {PARENTS: " (parents)", SAME_SETUP: " (same setup)"}.get(v.dense_from, "")
        threshold = DASH if v.threshold is None else number(s.scale * v.threshold, s.kind)
        if (r := v.sparsest) is not None:
            at = [number(100 * r.density, "percent"), str(r.round), cell(scaled(r.score, s.scale), s.kind, n), interval_cell(r, s)]
        else:
            at = ["none" if v.dense is not None else DASH, DASH, DASH, DASH]
        rows.append([v.group.label, str(n), dense, threshold, *at])
    return Table("Sparsest matching point per group", header, rows)


def round_table(v: GroupVerdict, barriers: bool) -> Table:
    s = v.score
    header = ["round", "n", "weights left %", s.header, "95% CI", "matching", *([BARRIER, "stable"] if barriers else [])]
    rows = []
    for r in v.rounds:
        row = [str(r.round), str(r.n), DASH if r.density is None else number(100 * r.density, "percent"),
               DASH if r.score is None else cell(scaled(r.score, s.scale), s.kind, r.n), interval_cell(r, s), matching_cell(v, r)]
        if barriers:
            stable = DASH if r.stable is None else "stable" if r.stable else "unstable"
            row += [DASH if r.barrier is None else cell(scaled(r.barrier, 100), "percent", r.n), stable]
        rows.append(row)
    return Table(f"Verdicts: {v.group.legend}", header, rows)


def _barriers(found: list[GroupVerdict]) -> bool:
    return any(r.barrier is not None for v in found for r in v.rounds)


def markdown(found: list[GroupVerdict]) -> list[str]:
    lines = ["## Verdicts", "", *(f"- {rule}" for rule in rules(found)), "", headline(found).markdown(), ""]
    for v in found:
        table = round_table(v, _barriers(found))
        lines += [f"### {table.title}", "", table.markdown(), ""]
    return lines


def html_parts(found: list[GroupVerdict], colours: dict[str, str]) -> list[str]:
    return ["<h2>Verdicts</h2><ul>", *(f"<li>{html.escape(rule)}</li>" for rule in rules(found)), "</ul>",
            table_html(headline(found)),
            *(table_html(round_table(v, _barriers(found)), colours[v.group.label]) for v in found)]


def csv_fields(score: Score) -> list[str]:
    return ["group", "round", "n", "density", f"{score.key}_mean", f"{score.key}_std", "ci95_low", "ci95_high", "t_quantile",
            "dense_mean", "dense_std", "dense_from", "matching_threshold", "matching", "instability_barrier_mean", "stable",
            "sparsest_matching_density"]


def write_csv(found: list[GroupVerdict], path: Path) -> None:
    """One row per group and round, in the records' units (fractions, not %); the group's
    sparsest matching density is on each of its rows, empty when none matches."""
    fields = csv_fields(found[0].score)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for v in found:
            sparsest = v.sparsest
            for r in v.rounds:
                values = [v.group.label, r.round, r.n, r.density, _get(r.score, "mean"), _get(r.score, "std"),
                          _get(r.interval, "low"), _get(r.interval, "high"), _get(r.interval, "t"), _get(v.dense, "mean"),
                          _get(v.dense, "std"), v.dense_from.removeprefix("the "), v.threshold, r.matching,
                          _get(r.barrier, "mean"), r.stable, None if sparsest is None else sparsest.density]
                writer.writerow({key: _text(value) for key, value in zip(fields, values)})


def _get(obj, name: str):
    return None if obj is None else getattr(obj, name)


def _text(value) -> str:
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)
