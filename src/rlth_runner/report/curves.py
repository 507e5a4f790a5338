"""Plots with one panel per round: the validation curves against the optimizer
step (as in the RLTH paper's Figs. 1-4), and the instability paths. Each group
is its mean over seeds with a ±1 std band."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from . import stats
from .events import RoundCurves
from .groups import Group
from .plots import DENSE, figure, legend

CURVES = {"acc": ("validation accuracy (%)", 100.0, "Validation accuracy"), "loss": ("validation loss", 1.0, "Validation loss")}


def band(curves: list[dict[float, float]], scale: float = 1.0) -> tuple[list[float], list[float], list[float]]:
    """x, mean and std (0 where one run has the point) over the runs, at every x any of them has."""
    xs = sorted({x for curve in curves for x in curve})
    mean, std = [], []
    for x in xs:
        values = [scale * curve[x] for curve in curves if x in curve]
        mean.append(statistics.fmean(values))
        std.append(statistics.stdev(values) if len(values) > 1 else 0.0)
    return xs, mean, std


def _panels(n: int, width: float = 3.5, height: float = 2.8, **kwargs):
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = figure(rows, cols, width=width * cols + 2.4, height=height * rows + 0.7, **kwargs)
    flat = [ax for row in axes for ax in row]
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n], cols


def _draw_band(ax, x: list, mean: list, std: list, colour: str, label: str | None, gid: str | None) -> None:
    (line,) = ax.plot(x, mean, color=colour, linewidth=1.4, label=label)
    line.set_gid(gid)
    if any(std):
        fill = ax.fill_between(x, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)], color=colour, alpha=0.2, linewidth=0)
        fill.set_gid(gid)


def _draw_panel(ax, bands: dict[str, tuple], groups: list[Group], colours: dict[str, str]) -> None:
    """Each group's band (label -> x, mean, std); one black band where every group has the
    same (round 0 of a sweep over the pruning or the policy), so that no colour hides the others."""
    if len(bands) > 1 and len({tuple(tuple(round(v, 9) for v in part) for part in band) for band in bands.values()}) == 1:
        _draw_band(ax, *next(iter(bands.values())), DENSE, "the same in every group", None)
        return
    for g in groups:
        if g.label in bands:
            _draw_band(ax, *bands[g.label], colours[g.label], g.legend, g.label)


def _round_title(groups: list[Group], k: int) -> str:
    """`round k`, with the weights remaining when every group has the same."""
    levels = {round(s.mean, 6) for g in groups if (s := stats.round_stat(g, k, "density", 100)) is not None}
    return f"round {k} ({levels.pop():.3g}% of weights)" if len(levels) == 1 else f"round {k}"


def round_curves(groups: list[Group], curves: dict[tuple[Path, int], RoundCurves], colours: dict[str, str], which: str):
    """One panel per round: the validation accuracy (`which="acc"`) or loss against the step; None without curves."""
    ylabel, scale, title = CURVES[which]
    if which == "loss":
        ylabel += " (MSE)" if stats.regression(groups) else " (cross-entropy)"
    rounds = sorted({k for (_, k), c in curves.items() if getattr(c, which)})
    if not rounds:
        return None
    fig, axes, cols = _panels(len(rounds), sharey=True)
    trained = []  # every mean after step 0: the y axis fits these
    for i, (ax, k) in enumerate(zip(axes, rounds)):
        bands = {}
        for g in groups:
            data = [getattr(curves[run.path, k], which) for run in g.runs if (run.path, k) in curves]
            if data := [d for d in data if d]:
                bands[g.label] = band(data, scale)
                trained += [m for x, m in zip(bands[g.label][0], bands[g.label][1]) if x > 0]
        _draw_panel(ax, bands, groups, colours)
        ax.set_xlim(left=0)
        ax.set_title(_round_title(groups, k), fontsize="medium")
        ax.grid(alpha=0.3)
        if i % cols == 0:
            ax.set_ylabel(ylabel)
        if i + cols >= len(rounds):
            ax.set_xlabel("optimizer step")
    note = ""
    if trained:
        # Step 0 (untrained: chance accuracy, a loss far above the rest) would squash the
        # part of the curves where the rounds differ; its point stays on the x axis's start, off the y range.
        lo, hi = min(trained), max(trained)
        pad = 0.08 * (hi - lo) or 0.05 * abs(hi) or 0.1
        axes[0].set_ylim(lo - pad, hi + pad)
        note = "; y axis fitted to the points after step 0"
    grid = all(c.grid for c in curves.values())
    fig.suptitle(f"{title} during each round, mean ± std over seeds ({'validation grid' if grid else 'evaluated once per epoch'}{note})")
    legend(fig, axes)
    return fig


def instability(groups: list[Group], colours: dict[str, str]):
    """One panel per round that has an instability path: the test error along the line
    between two copies trained from the round's start; None when no run has one."""
    rounds = sorted({k for g in groups for run in g.runs for k in run.instability})
    if not rounds:
        return None
    fig, axes, cols = _panels(len(rounds), sharey=True)
    for i, (ax, k) in enumerate(zip(axes, rounds)):
        bands = {}
        for g in groups:
            if paths := [dict(run.instability[k].points) for run in g.runs if k in run.instability]:
                bands[g.label] = band(paths, 100.0)
        _draw_panel(ax, bands, groups, colours)
        ax.set_xlim(0, 1)
        ax.set_title(_round_title(groups, k), fontsize="medium")
        ax.grid(alpha=0.3)
        if i % cols == 0:
            ax.set_ylabel("test error (%)")
        if i + cols >= len(rounds):
            ax.set_xlabel("interpolation α (0: copy A, 1: copy B)")
    fig.suptitle("Instability: test error along the straight line between two copies trained from the round's start")
    legend(fig, axes)
    return fig
