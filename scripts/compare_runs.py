#!/usr/bin/env python
"""Compare finished rlth-run runs, grouped by policy (or another summary key).

    python scripts/compare_runs.py outputs/multirun/2025-01-01/10-00-00 other/run --out docs/results

Every directory under the given paths that holds a summary.json with status
`completed` is one run (a seed). Writes to --out:

  * compare.md: per group and round, mean ± sample std over runs of the test
    accuracy, nonzero and total parameters, FLOPs and hidden layers, then the
    final round side by side;
  * rounds.png: test accuracy and nonzero parameters against the round;
  * curves_<tag>.png: one panel per round with the TensorBoard curve `tag`
    (default val/acc and train/loss_epoch) against the step, mean ± std per group.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from rlth_runner.record import RoundRecord


def find_runs(paths: list[Path]) -> list[Path]:
    found = []
    for path in paths:
        found += [p.parent for p in sorted(path.rglob("summary.json"))] if path.is_dir() else []
    return sorted(set(found))


def load(runs: list[Path], group_by: list[str]) -> dict[str, list[tuple[Path, dict]]]:
    groups = defaultdict(list)
    for run in runs:
        summary = json.loads((run / "summary.json").read_text())
        if summary.get("status") != "completed":
            print(f"skipping {run}: status {summary.get('status')}", file=sys.stderr)
            continue
        summary["rounds"] = [RoundRecord.from_dict(r) for r in summary["rounds"]]
        groups[" / ".join(str(summary.get(k)) for k in group_by)].append((run, summary))
    return dict(sorted(groups.items()))


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def fmt(values: list, scale: float = 1.0, digits: int = 2, integer: bool = False) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    m, s = mean_std([scale * v for v in values])
    if integer:
        return f"{m:,.0f}" if s == 0 else f"{m:,.0f} ± {s:,.0f}"
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def by_round(runs: list[tuple[Path, dict]]) -> dict[int, list[RoundRecord]]:
    rounds = defaultdict(list)
    for _, summary in runs:
        for r in summary["rounds"]:
            rounds[r.round].append(r)
    return dict(sorted(rounds.items()))


def tables(groups) -> str:
    out = []
    for name, runs in groups.items():
        out += [f"### {name} ({len(runs)} runs)", "", "| round | hidden layers | test acc % | best val acc % | nonzero params | params | FLOPs (MACs) | runs |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for k, rs in by_round(runs).items():
            get = lambda key: [getattr(r, key) for r in rs]  # noqa: E731
            out.append(
                f"| {k} | {fmt(get('hidden_layers'), integer=True)} | {fmt(get('test_acc'), 100)} | {fmt(get('val_acc'), 100)} "
                f"| {fmt(get('params_nonzero'), integer=True)} | {fmt(get('params_total'), integer=True)} | {fmt(get('flops'), integer=True)} | {len(rs)} |"
            )
        out.append("")
    out += ["### Final round", "", "| group | runs | round | test acc % | nonzero params | FLOPs (MACs) |", "|---|---:|---:|---:|---:|---:|"]
    for name, runs in groups.items():
        finals = [summary["rounds"][-1] for _, summary in runs]
        rounds = sorted({r.round for r in finals})
        out.append(
            f"| {name} | {len(runs)} | {', '.join(map(str, rounds))} | {fmt([r.test_acc for r in finals], 100)} "
            f"| {fmt([r.params_nonzero for r in finals], integer=True)} | {fmt([r.flops for r in finals], integer=True)} |"
        )
    return "\n".join(out) + "\n"


def scalars(run: Path, k: int, tag: str) -> dict[int, float]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tensorboard" / f"round_{k}"), size_guidance={"scalars": 0})
    acc.Reload()
    return {e.step: e.value for e in acc.Scalars(tag)} if tag in acc.Tags()["scalars"] else {}


def plot_rounds(groups, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, runs in groups.items():
        rounds = by_round(runs)
        ks = list(rounds)
        for ax, key, scale in ((axes[0], "test_acc", 100), (axes[1], "params_nonzero", 1)):
            stats = [mean_std([scale * getattr(r, key) for r in rounds[k]]) for k in ks]
            m = [s[0] for s in stats]
            ax.errorbar(ks, m, yerr=[s[1] for s in stats], marker="o", capsize=3, label=name)
    from matplotlib.ticker import MaxNLocator

    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set(xlabel="round", ylabel="test accuracy %", title="Test accuracy")
    axes[1].set(xlabel="round", ylabel="nonzero parameters", title="Nonzero parameters", yscale="log")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_curves(groups, tag: str, path: Path) -> bool:
    import matplotlib.pyplot as plt

    n_rounds = max(len(s["rounds"]) for runs in groups.values() for _, s in runs)
    cols = min(n_rounds, 4)
    rows = -(-n_rounds // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.9 * rows), squeeze=False, sharey=True)
    drawn = False
    for i, (name, runs) in enumerate(groups.items()):
        color = f"C{i}"
        for k in range(n_rounds):
            curves = [c for c in (scalars(run, k, tag) for run, s in runs if k < len(s["rounds"])) if c]
            if not curves:
                continue
            steps = sorted(set.intersection(*(set(c) for c in curves)))
            stats = [mean_std([c[s] for c in curves]) for s in steps]
            m = [s[0] for s in stats]
            sd = [s[1] for s in stats]
            ax = axes[k // cols][k % cols]
            ax.plot(steps, m, color=color, label=name if k == 0 else None)
            ax.fill_between(steps, [a - b for a, b in zip(m, sd)], [a + b for a, b in zip(m, sd)], color=color, alpha=0.2)
            ax.set_title(f"round {k}")
            drawn = True
    for ax in axes.flat[n_rounds:]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("step")
    for row in axes:
        row[0].set_ylabel(tag)
    if drawn:
        axes[0][0].legend(fontsize="small")
        fig.tight_layout()
        fig.savefig(path, dpi=120)
    plt.close(fig)
    return drawn


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path, help="run directories, or directories holding them (multirun sweeps)")
    parser.add_argument("--out", type=Path, required=True, help="directory for compare.md and the PNGs")
    parser.add_argument("--group-by", nargs="+", default=["policy"], help="summary.json keys that name a group (default: policy)")
    parser.add_argument("--tags", nargs="+", default=["val/acc", "train/loss_epoch"], help="TensorBoard scalars to plot per round")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    groups = load(find_runs(args.paths), args.group_by)
    if not groups:
        print("no completed runs found under " + " ".join(map(str, args.paths)), file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    lines = ["# Run comparison", "", f"Made by `python scripts/compare_runs.py {shlex.join(sys.argv[1:] if argv is None else argv)}`.", "", "Mean ± sample standard deviation over runs.", "", tables(groups)]
    plot_rounds(groups, args.out / "rounds.png")
    lines += ["![test accuracy and nonzero parameters per round](rounds.png)", ""]
    for tag in args.tags:
        name = f"curves_{tag.replace('/', '_')}.png"
        if plot_curves(groups, tag, args.out / name):
            lines += [f"![{tag} per round]({name})", ""]
    (args.out / "compare.md").write_text("\n".join(lines))
    print(f"wrote {args.out / 'compare.md'} ({sum(len(r) for r in groups.values())} runs in {len(groups)} groups)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
