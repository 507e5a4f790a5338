"""Test accuracy against what a network costs: its nonzero parameters, and the
training compute spent to reach it. Weights remaining (plots.py) compares runs
of one architecture; these compare a grown network with a pruned one, whose
layers and training lengths differ (train.budget)."""

from __future__ import annotations

from . import stats
from .groups import Group
from .plots import figure, legend


def cumulative_macs(group: Group) -> dict[int, list[float]]:
    """Round -> each run's training multiply-accumulates summed over rounds 0..k: what it cost to get
    there (pruning needs every earlier round). Runs recorded before train_macs (once train_flops) have none."""
    out: dict[int, list[float]] = {}
    for run in group.runs:
        total = 0.0
        for record in sorted(run.records, key=lambda r: r.round):
            spent = stats.value(run, record, "train_macs")
            if spent is None:
                break
            total += spent
            out.setdefault(record.round, []).append(total)
    return out


def _points(group: Group, key: str, scale: float, x_of) -> list[tuple[float, float, float]]:
    points = []
    for k in stats.rounds(group):
        y, x = stats.round_stat(group, k, key, scale), x_of(k)
        if y is not None and x is not None:
            points.append((x, y.mean, y.std or 0.0))
    return points


def accuracy_against_costs(groups: list[Group], colours: dict[str, str]):
    """Two panels: test accuracy against nonzero parameters, and against cumulative training MACs."""
    from matplotlib.ticker import LogFormatterSciNotation

    key, scale, name = ("test_error", 1, "test error (MSE)") if stats.regression(groups) else ("test_acc", 100, "test accuracy (%)")
    has_macs = stats.any_value(groups, "train_macs")
    fig, axes = figure(1, 2 if has_macs else 1, width=12.0 if has_macs else 7.0, sharey=True)
    panels = [("nonzero parameters (log scale)", lambda g: (lambda k: _mean(stats.round_stat(g, k, "params_nonzero"))))]
    if has_macs:
        panels.append(("training multiply-accumulates to reach the round, rounds 0..k (log scale)",
                       lambda g: (lambda k, c=cumulative_macs(g): sum(c[k]) / len(c[k]) if c.get(k) else None)))
    drawn = False
    for ax, (xlabel, x_for) in zip(axes[0], panels):
        for g in groups:
            points = _points(g, key, scale, x_for(g))
            if points:
                bars = ax.errorbar([p[0] for p in points], [p[1] for p in points], yerr=[p[2] for p in points], color=colours[g.label],
                                   marker="o", markersize=4, capsize=3, label=g.legend)
                for artist in (bars.lines[0], *bars.lines[1], *bars.lines[2]):
                    artist.set_gid(g.label)
                drawn = True
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(LogFormatterSciNotation())
        ax.set(xlabel=xlabel)
        ax.grid(alpha=0.3, which="major")
    if not drawn:
        return None
    axes[0][0].set_ylabel(name)
    fig.suptitle(f"{name[0].upper()}{name[1:]} against the network's size and its training compute (mean ± std per round)")
    legend(fig, axes[0])
    return fig


def _mean(s: stats.Stat | None) -> float | None:
    return None if s is None else s.mean
