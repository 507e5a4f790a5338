"""`rlth-report PATH [PATH ...]`: tables, plots and an HTML page from the
completed runs under each PATH (a run directory, a sweep directory, or any
directory holding them).

Exit status: 0 once everything is written; 1 when no run under the PATHs
completed (each skipped run is named); 2 for a bad input, with one line
`rlth-report: error: ...`: a PATH that does not exist or holds no run, an
unknown --group-by key, an output directory that cannot be written.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from . import bands, costs, curves, events, page, plots, swept, tables, teacher, verdict_tables, verdicts
from .groups import Group, group_runs
from .runs import ReportError, Skipped, load_runs

PROG = "rlth-report"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Tables, plots and one HTML page from finished rlth-run runs: mean ± std over seeds per group and round, "
                    "95% confidence intervals, and which rounds are matching and stable (Frankle et al. 2020).",
        epilog="Writes runs.csv, verdicts.csv, summary.md, PNG plots and index.html (self-contained: open it from the file system).")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                   help="a run directory, a sweep directory (rlth-run -m), or any directory holding them")
    p.add_argument("--out", type=Path, metavar="DIR", help="where to write the report (default: PATH/report; required with several PATHs)")
    p.add_argument("--group-by", nargs="+", metavar="KEY",
                   help="config keys that name a group, e.g. policy pruner.sparsity (a section such as `policy` means its `name`); "
                        "runs that differ in another key than the seed are split into subgroups. "
                        "Default: every key that differs between the runs, seed aside")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    command = shlex.join([PROG, *(sys.argv[1:] if argv is None else argv)])
    try:
        return report(args.paths, args.out, args.group_by, command)
    except ReportError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2


def report(paths: list[Path], out: Path | None, group_by: list[str] | None, command: str) -> int:
    if out is None and len(paths) > 1:
        raise ReportError("several PATHs: say where the report goes with --out DIR")
    out = out or paths[0] / "report"
    runs, skipped = load_runs(paths)
    for s in skipped:
        warn(f"skipped {s.path}: {s.reason}")
    if not runs:
        print(f"{PROG}: error: no completed run under {' '.join(map(str, paths))}", file=sys.stderr)
        return 1
    groups, notes = group_runs(runs, group_by)
    for note in notes:
        warn(note)
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = write(out, groups, notes, skipped, command)
    except OSError as err:
        raise ReportError(f"cannot write the report to {out}: {err.strerror or err}") from None
    runs_n = sum(g.n for g in groups)
    print(f"{PROG}: {runs_n} run{'s' * (runs_n != 1)} in {len(groups)} group{'s' * (len(groups) != 1)}"
          f"{f', {len(skipped)} skipped' if skipped else ''}; wrote {out}")
    for kind, files in written.items():
        print(f"  {kind + ':':<8}{', '.join(str(f) for f in files)}")
    return 0


def warn(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)


def write(out: Path, groups: list[Group], notes: list[str], skipped: list[Skipped], command: str) -> dict[str, list[Path]]:
    """Every file of the report; what was written, by kind."""
    colours = plots.colours(groups)  # the one mapping: a group has its colour in every plot and on the page
    found = verdicts.verdicts(groups)
    written = [out / "summary.md", out / "runs.csv", out / "verdicts.csv"]
    tables.write_csv(groups, out / "runs.csv")
    verdict_tables.write_csv(found, out / "verdicts.csv")
    drawn = draw(out, groups, colours, found)
    (out / "summary.md").write_text(tables.markdown(groups, command, skipped, [p.path for p in drawn], verdict_tables.markdown(found)))
    cols = tables.columns(groups)
    html = page.page(command, groups, colours, tables.overview(groups, cols), [tables.group_table(g, cols) for g in groups],
                     drawn, notes, skipped, written, verdict_tables.html_parts(found, colours))
    (out / "index.html").write_text(html)
    return {"page": [out / "index.html"], "tables": written, "plots": [p.path for p in drawn]}


def draw(out: Path, groups: list[Group], colours: dict[str, str], found: list[verdicts.GroupVerdict]) -> list[page.Plot]:
    """The plots there is data for."""
    round_curves = events.load_curves([run for g in groups for run in g.runs])
    figures = [
        ("accuracy.png", "Test accuracy against weights remaining", lambda: plots.accuracy(groups, colours)),
        ("matching.png", "Methods compared: test accuracy against weights remaining, with 95% confidence bands over the seeds, "
                         "the matching threshold (dashed) and each group's sparsest matching point (star)",
         lambda: bands.matching(found, colours)),
        ("costs.png", "Test accuracy against nonzero parameters and training compute", lambda: costs.accuracy_against_costs(groups, colours)),
        ("swept.png", "Test accuracy against the swept value", lambda: swept.accuracy_against_swept(groups, colours)),
        ("early_stop.png", "Early-stop step against weights remaining", lambda: plots.early_stop(groups, colours)),
        ("distance.png", "Learning distance against weights remaining", lambda: plots.distance(groups, colours)),
        ("curves_val_acc.png", "Validation accuracy per round", lambda: curves.round_curves(groups, round_curves, colours, "acc")),
        ("curves_val_loss.png", "Validation loss per round", lambda: curves.round_curves(groups, round_curves, colours, "loss")),
        ("instability.png", "Instability paths", lambda: curves.instability(groups, colours)),
        ("sample_complexity.png", "Teacher data: test error and steps to the target error against weights remaining, "
                                  "with the teacher's own density", lambda: teacher.sample_complexity(groups, colours)),
    ]
    drawn = []
    for name, caption, make in figures:
        if (fig := make()) is not None:
            drawn.append(page.Plot(plots.save(fig, out / name), caption))
        else:
            (out / name).unlink(missing_ok=True)  # from an earlier report of other runs
    return drawn


if __name__ == "__main__":
    sys.exit(main())
