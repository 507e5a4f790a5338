"""Plots against the weights remaining, and what every plot shares: one colour
per group (`colours`, made once for all plots) and the weights-remaining axis.

Figures are made with matplotlib's object API, not pyplot: no global state,
no GUI backend, and a figure is freed when dropped. Each plotted artist's gid
is its group's label, so that a test can tell which group drew it.
"""

from __future__ import annotations

import colorsys
import math
from pathlib import Path

from . import stats
from .groups import Group

# matplotlib's tab10, then tab20's light shades: distinct, and the same on every run of the command.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
           "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5")
DENSE = "#000000"
WEIGHTS_LABEL = "weights remaining (%, log scale)"
DPI = 110


def colours(groups: list[Group]) -> dict[str, str]:
    """Group label -> colour, for every plot of one report."""
    out = {}
    for i, group in enumerate(groups):
        if i < len(PALETTE):
            out[group.label] = PALETTE[i]
        else:  # past 20 groups: evenly spread hues
            r, g, b = colorsys.hsv_to_rgb(((i - len(PALETTE)) * 0.618034) % 1.0, 0.75, 0.8)
            out[group.label] = f"#{int(255 * r):02x}{int(255 * g):02x}{int(255 * b):02x}"
    return out


def figure(rows: int = 1, cols: int = 1, width: float = 7.0, height: float = 4.3, **kwargs):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots(rows, cols, squeeze=False, **kwargs)


def save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=DPI)
    return path


def weights_ticks(lo: float, hi: float, data: list[float] = ()) -> list[float]:
    """Tick positions (%) for a log axis from `lo` to `hi`: 100, 50, 20, 10, 5, 2, 1, 0.5, ...;
    on a short axis, where fewer than four of those fit, 100, 70, 50, 30, 20, 15, 10, ...;
    where fewer than three of those fit (100, 80, 64), the data's own values, rounded to two
    digits, none closer than 15% to the next."""
    for steps in ((1, 2, 5), (1, 1.5, 2, 3, 5, 7)):
        ticks = [m * 10.0**e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1) for m in steps]
        ticks = [round(t, 10) for t in ticks if lo <= t <= hi]
        if len(ticks) >= 4:
            return ticks
    if len(ticks) >= 3 or not data:
        return ticks
    spaced: list[float] = []
    for value in sorted({float(f"{v:.2g}") for v in data}, reverse=True):
        if not spaced or spaced[-1] / value >= 1.15:
            spaced.append(value)
    return spaced


def weights_axis(ax, percents: list[float]) -> None:
    """A log-scale x axis of weights remaining, reversed (100% on the left), with plain labels."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

    shown = [p for p in percents if p > 0] or [100.0]  # no log of 0: a fully pruned round is off the axis
    lo, hi = min(shown) / 1.25, max(shown) * 1.12
    ax.set_xscale("log")
    ax.set_xlim(hi, lo)
    ax.xaxis.set_major_locator(FixedLocator(weights_ticks(lo, hi, shown)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(LogLocator(subs=(2, 3, 4, 5, 6, 7, 8, 9)))
    ax.xaxis.set_minor_formatter(NullFormatter())  # unlabelled: "10 9 8 7 6" crowds the axis
    ax.set_xlabel(WEIGHTS_LABEL)
    ax.grid(alpha=0.3, which="major")


def legend(fig, axes) -> None:
    """Below the plots, as wide as the figure, each label once: long group labels then cover no
    data and leave the plots their width."""
    seen: dict = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    if seen:
        chars = max(len(label) for label in seen)
        ncols = max(1, min(len(seen), int(fig.get_figwidth() * 13 // (chars + 6))))
        fig.legend(list(seen.values()), list(seen), loc="outside lower center", ncols=ncols, fontsize="small", frameon=False)


def series(group: Group, key: str, scale: float = 1.0) -> list[tuple[int, float, float, float]]:
    """(round, weights remaining %, mean, std) of `key` for each round where it has a value."""
    out = []
    for k in stats.rounds(group):
        if (s := stats.round_stat(group, k, key, scale)) is not None:
            out.append((k, stats.round_stat(group, k, "density", 100).mean, s.mean, s.std or 0.0))
    return out


def shared_dense(groups: list[Group], key: str, scale: float = 1.0) -> stats.Stat | None:
    """Round 0's value when every group has the same: the dense network does not depend on
    the pruning or the policy, so a sweep over them trains it once per seed and config."""
    found = [stats.round_stat(g, 0, key, scale) for g in groups]
    if len(found) < 2 or None in found:
        return None
    first = found[0]
    same = all(s.n == first.n and math.isclose(s.mean, first.mean, rel_tol=1e-9, abs_tol=1e-12)
               and math.isclose(s.std or 0.0, first.std or 0.0, rel_tol=1e-9, abs_tol=1e-12) for s in found)
    return first if same else None


def _draw(ax, group: Group, colour: str, key: str, scale: float, dense_drawn: bool, label: bool = True) -> list[float]:
    """The group's mean ± std per round; where round 0 is drawn once for all groups
    (`dense_drawn`), only a line joins it, so that no group's colour hides another's."""
    points = series(group, key, scale)
    shown = [p for p in points if not (dense_drawn and p[0] == 0)]
    if dense_drawn and shown and len(points) > len(shown):
        (join,) = ax.plot([points[0][1], shown[0][1]], [points[0][2], shown[0][2]], color=colour)
        join.set_gid(group.label)
    if shown:
        bars = ax.errorbar([p[1] for p in shown], [p[2] for p in shown], yerr=[p[3] for p in shown], color=colour, marker="o",
                           markersize=4, capsize=3, label=group.legend if label else None)
        for artist in (bars.lines[0], *bars.lines[1], *bars.lines[2]):
            artist.set_gid(group.label)
    return [p[1] for p in points]


def _draw_all(ax, groups: list[Group], colours: dict[str, str], key: str, scale: float = 1.0, label: bool = True,
              dense_label: str | None = "dense network, round 0 (the same in every group)") -> list[float]:
    """Every group, and round 0 once in black when all groups share it; the x values drawn."""
    dense = shared_dense(groups, key, scale)
    xs = [x for g in groups for x in _draw(ax, g, colours[g.label], key, scale, dense is not None, label)]
    if dense is not None:
        ax.errorbar([100.0], [dense.mean], yerr=[dense.std or 0.0], color=DENSE, marker="o", markersize=4, capsize=3,
                    label=dense_label if label else None, zorder=3)
    return xs


def accuracy(groups: list[Group], colours: dict[str, str]):
    """Test accuracy against weights remaining; round 0 (dense) also as a dashed line."""
    key, scale, name = ("test_error", 1, "test error (MSE)") if stats.regression(groups) else ("test_acc", 100, "test accuracy (%)")
    fig, ((ax,),) = figure()
    xs = _draw_all(ax, groups, colours, key, scale, dense_label=None)
    if not xs:
        return None
    if (dense := shared_dense(groups, key, scale)) is not None:
        ax.axhline(dense.mean, color=DENSE, linestyle="--", linewidth=1, label=f"dense network, round 0 (n={dense.n}), the same in every group")
    else:
        for g in groups:
            if (s := stats.round_stat(g, 0, key, scale)) is not None:
                ax.axhline(s.mean, color=colours[g.label], linestyle="--", linewidth=1, gid=g.label)
        ax.plot([], [], color="#555555", linestyle="--", linewidth=1, label="dense network (round 0) of each group")
    weights_axis(ax, xs)
    ax.set(ylabel=name, title=f"{name[0].upper()}{name[1:]} against weights remaining")
    legend(fig, [ax])
    return fig


def early_stop(groups: list[Group], colours: dict[str, str]):
    """The early-stop step (lowest validation loss on the grid) against weights remaining; None without a grid."""
    from matplotlib.ticker import MaxNLocator

    if not stats.any_value(groups, "early_stop_step"):
        return None
    fig, ((ax,),) = figure()
    weights_axis(ax, _draw_all(ax, groups, colours, "early_stop_step"))
    ax.set(ylabel="early-stop step (optimizer steps)", title="Early-stop step (lowest validation loss)")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    legend(fig, [ax])
    return fig


def distance(groups: list[Group], colours: dict[str, str]):
    """How far training moved the kept weights, from the initialisation and from the round's start."""
    panels = [(key, what) for key, what in (("dist_from_init", "initialisation"), ("dist_from_start", "round's start"))
              if stats.any_value(groups, key)]
    if not panels:
        return None
    fig, axes = figure(1, len(panels), width=5.0 * len(panels) + 2)  # not shared: from the round's start is far shorter
    for ax, (key, what) in zip(axes[0], panels):
        weights_axis(ax, _draw_all(ax, groups, colours, key, label=ax is axes[0][0]))
        ax.set(title=f"Distance from the {what}", ylabel="relative L2 distance of the kept weights")
        ax.set_ylim(bottom=0)
    fig.suptitle("Learning distance against weights remaining")
    legend(fig, axes[0])
    return fig
