#!/usr/bin/env python3
"""The "four models" comparison from a multirun over `policy`.

Reads every summary.json under a sweep directory and compares, at each
density the runs reached:

    dense       round 0 of the runs (the unpruned network)
    finetune    pruned, trained weights kept (classical pruning)
    reinit      pruned, randomly re-initialised (Liu et al.'s control)
    reset       pruned, reset to the original init (the winning ticket)

Any other policy in the sweep (rewind, random_mask) gets its own column.
Writes <out>.md (a markdown table, mean ± std over seeds) and <out>.png.

    python scripts/four_models.py outputs/four_models --out docs/results/four_models
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

from rlth_runner.record import RoundRecord

ORDER = ["finetune", "reinit", "reset", "rewind", "random_mask"]
LABELS = {"finetune": "pruned + finetuned", "reinit": "pruned + reinit", "reset": "winning ticket (reset)",
          "rewind": "winning ticket (rewind)", "random_mask": "random mask"}


def load(sweep: Path) -> list[dict]:
    runs = [json.loads(p.read_text()) for p in sorted(sweep.glob("**/summary.json"))]
    runs = [r for r in runs if r.get("status") == "completed" and r.get("rounds")]
    if not runs:
        raise SystemExit(f"no completed summary.json under {sweep}")
    for run in runs:
        run["rounds"] = [RoundRecord.from_dict(r) for r in run["rounds"]]
    return runs


def collect(runs: list[dict], metric: str):
    """{policy: {round: [values over seeds]}}, {round: [densities]}, [dense value per seed]."""
    by_policy, densities, dense = defaultdict(lambda: defaultdict(list)), defaultdict(list), {}
    for run in runs:
        for r in run["rounds"]:
            value = getattr(r, metric)
            if value is None:
                continue
            if r.round == 0:  # the same for every policy of one seed: count it once
                dense[run["seed"]] = value
            else:
                by_policy[run["policy"]][r.round].append(value)
                densities[r.round].append(r.density)
    return by_policy, densities, list(dense.values())


def fmt(values: list[float]) -> str:
    if not values:
        return "-"
    mean = 100 * statistics.fmean(values)
    return f"{mean:.2f} ± {100 * statistics.stdev(values):.2f}" if len(values) > 1 else f"{mean:.2f}"


def table(by_policy, densities, dense, metric: str) -> str:
    policies = [p for p in ORDER if p in by_policy] + sorted(set(by_policy) - set(ORDER))
    header = ["round", "weights left %", "dense"] + [LABELS.get(p, p) for p in policies]
    lines = [f"{metric} in %, mean ± std over seeds (n = runs per cell).", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    n = {p: max(len(v) for v in by_policy[p].values()) for p in policies}
    lines.append("| 0 | 100.00 | " + fmt(dense) + " | " + " | ".join("-" for _ in policies) + " |")
    for k in sorted(densities):
        row = [str(k), f"{100 * statistics.fmean(densities[k]):.2f}", ""] + [fmt(by_policy[p].get(k, [])) for p in policies]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "n: dense " + str(len(dense)) + ", " + ", ".join(f"{p} {n[p]}" for p in policies)]
    return "\n".join(lines) + "\n"


def plot(by_policy, densities, dense, metric: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.axhline(100 * statistics.fmean(dense), color="black", linestyle="--", label="dense (round 0)")
    for p in [p for p in ORDER if p in by_policy] + sorted(set(by_policy) - set(ORDER)):
        ks = sorted(by_policy[p])
        x = [100 * statistics.fmean(densities[k]) for k in ks]
        y = [100 * statistics.fmean(by_policy[p][k]) for k in ks]
        err = [100 * statistics.stdev(by_policy[p][k]) if len(by_policy[p][k]) > 1 else 0 for k in ks]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=LABELS.get(p, p))
    ax.set_xscale("log")
    ax.invert_xaxis()
    plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(plain)
    ax.set_xlabel("weights left (%)")
    ax.set_ylabel(f"{metric} (%)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path, help="a multirun directory (hydra.sweep.dir)")
    parser.add_argument("--out", type=Path, default=None, help="output stem; default <sweep>/four_models")
    parser.add_argument("--metric", default="test_acc", help="per-round key of summary.json (test_acc, val_acc, early_stop_test_acc)")
    args = parser.parse_args(argv)
    out = args.out or args.sweep / "four_models"
    out.parent.mkdir(parents=True, exist_ok=True)
    by_policy, densities, dense = collect(load(args.sweep), args.metric)
    text = table(by_policy, densities, dense, args.metric)
    out.with_suffix(".md").write_text(text)
    plot(by_policy, densities, dense, args.metric, out.with_suffix(".png"))
    print(text)
    print(f"wrote {out.with_suffix('.md')} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
