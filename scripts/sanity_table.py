#!/usr/bin/env python
"""The sanity-check study (scripts/fmnist_sanity.sh) at a glance, from the
verdicts.csv that `rlth-report` wrote over it: one row per method and branch,
one column per density, and one panel per method of test accuracy against
weights remaining for the method, its shuffle_layerwise and its invert branch,
each with its 95% interval, and the matching threshold.

The report has one group per config, so pruning at initialisation, whose runs
are one round each, is one group per sparsity; this script only lays those
groups side by side by method. Every number is copied from verdicts.csv as
written (nothing is recomputed), rounded for display.

    python scripts/sanity_table.py docs/results/fmnist_sanity   # writes sanity.md and sanity.png there
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from pathlib import Path

BRANCHES = {"null": "method", "shuffle_layerwise": "shuffled", "invert": "inverted"}
ORDER = ["IMP (reset)", "gradual", "SNIP", "GraSP", "SynFlow", "magnitude at init"]
NAMES = {"snip": "SNIP", "grasp": "GraSP", "synflow": "SynFlow", "magnitude": "magnitude at init"}


def labels(group: str) -> dict[str, str]:
    """`pruner=snip, branch.kind=invert, ...` -> {"pruner": "snip", "branch.kind": "invert", ...}."""
    return dict(part.split("=", 1) for part in group.split(", "))


def method(keys: dict[str, str]) -> str:
    if keys.get("pruner.schedule") == "gradual":
        return "gradual"
    if keys.get("pruner.at_init") == "true" or keys.get("pruner", "magnitude") != "magnitude":
        return NAMES[keys.get("pruner", "magnitude")]
    return "IMP (reset)"


def points(rows: list[dict]) -> dict[tuple[str, str], list[dict]]:
    """(method, branch) -> its pruned points, densest first."""
    found = defaultdict(list)
    for row in rows:
        if float(row["density"]) >= 1.0 or row["matching"] == "":
            continue  # the dense round itself
        keys = labels(row["group"])
        found[(method(keys), BRANCHES[keys.get("branch.kind", "null")])].append(row)
    return {k: sorted(v, key=lambda r: -float(r["density"])) for k, v in found.items()}


def table(found: dict, densities: list[float]) -> str:
    head = "| method | sanity check | " + " | ".join(f"{100 * d:.1f}%" for d in densities) + " |"
    lines = [head, "|---|---|" + "---:|" * len(densities)]
    for m in ORDER:
        for b in BRANCHES.values():
            by_density = {round(float(r["density"]), 4): r for r in found.get((m, b), [])}
            cells = []
            for d in densities:
                r = by_density.get(round(d, 4))
                if r is None:
                    cells.append("-")
                    continue
                ci = f" [{100 * float(r['ci95_low']):.1f}, {100 * float(r['ci95_high']):.1f}]" if r["ci95_low"] else ""
                cells.append(f"{100 * float(r['test_acc_mean']):.2f}{ci}{' **M**' if r['matching'] == 'true' else ''}")
            lines.append(f"| {m} | {b} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(found: dict, threshold: float, densities: list[float], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5), sharex=True, sharey=True)
    colours = {"method": "#1f77b4", "shuffled": "#ff7f0e", "inverted": "#d62728"}
    for ax, m in zip(axes.flat, ORDER):
        for b, colour in colours.items():
            rows = found.get((m, b), [])
            if not rows:
                continue
            x = [100 * float(r["density"]) for r in rows]
            ax.plot(x, [100 * float(r["test_acc_mean"]) for r in rows], marker="o", color=colour, label=b)
            if all(r["ci95_low"] for r in rows):
                ax.fill_between(x, [100 * float(r["ci95_low"]) for r in rows], [100 * float(r["ci95_high"]) for r in rows],
                                color=colour, alpha=0.2, linewidth=0)
        ax.axhline(100 * threshold, color="black", linestyle="--", linewidth=1, label="matching threshold (dense − 1 std)")
        ax.set(title=m, xlabel="weights remaining (%)", xscale="log")
        ax.set_xticks([100 * d for d in densities], [f"{100 * d:.1f}" for d in densities])
        ax.minorticks_off()
    axes.flat[0].invert_xaxis()  # shared: once for all panels
    for ax in axes[:, 0]:
        ax.set_ylabel("test accuracy (%), 95% band over seeds")
    axes.flat[0].legend(fontsize=8, loc="lower left")
    fig.suptitle("Fashion-MNIST, LeNet-300-100: each method and its sanity checks (from rlth-report's verdicts.csv)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main(report: Path) -> None:
    rows = list(csv.DictReader((report / "verdicts.csv").open()))
    found = points(rows)
    densities = sorted({float(r["density"]) for v in found.values() for r in v}, reverse=True)
    thresholds = sorted({float(r["matching_threshold"]) for v in found.values() for r in v})
    if thresholds[-1] - thresholds[0] > 1e-9:  # the same dense runs, summed in another order at most
        raise SystemExit(f"sanity_table.py: expected one matching threshold (one dense reference), found {thresholds}")
    threshold = thresholds[0]
    dense = next(r for v in found.values() for r in v)
    text = (f"Dense LeNet-300-100: {100 * float(dense['dense_mean']):.2f} ± {100 * float(dense['dense_std']):.2f}% test accuracy; "
            f"matching (**M**) at {100 * threshold:.2f}% or more. Cells: mean test accuracy % over the seeds [95% t-interval].\n\n")
    (report / "sanity.md").write_text(text + table(found, densities) + "\n")
    plot(found, threshold, densities, report / "sanity.png")
    print(f"wrote {report / 'sanity.md'} and {report / 'sanity.png'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
