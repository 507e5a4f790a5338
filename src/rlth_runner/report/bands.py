"""The methods compared: test accuracy against weights remaining for groups that
differ in the pruner (its schedule included), the policy or the branch, each
with its 95% confidence band over the seeds (confidence.py), its matching
threshold and its sparsest matching point (verdicts.py). The groups' colours
and the weights-remaining axis are plots.py's."""

from __future__ import annotations

import math

from .confidence import interval
from .plots import DENSE, figure, legend, shared_dense, weights_axis
from .verdicts import GroupVerdict, compared

BAND_ALPHA = 0.2


def matching(found: list[GroupVerdict], colours: dict[str, str]):
    """None unless the groups are methods (verdicts.compared) and some round has a score."""
    if not compared([v.group for v in found]):
        return None
    score = found[0].score
    rule = "dense mean − 1 std" if score.higher_is_better else "dense mean + 1 std"
    fig, ((ax,),) = figure(height=4.8)
    xs: list[float] = []
    dense = shared_dense([v.group for v in found], score.key, score.scale)  # drawn once, in black, not once per group
    for v in found:
        xs += _draw(ax, v, colours[v.group.label], dense is not None)
    if not xs:
        return None
    if dense is not None and (ci := interval(dense)) is not None:
        ax.errorbar([100.0], [dense.mean], yerr=[[dense.mean - ci.low], [ci.high - dense.mean]], color=DENSE, marker="o", markersize=4,
                    capsize=4, zorder=3, label=f"dense network, round 0 (n={dense.n}), the same in every group: 95% interval")
    thresholds = [v.threshold for v in found]
    shared = None not in thresholds and all(math.isclose(t, thresholds[0], rel_tol=1e-9, abs_tol=1e-12) for t in thresholds)
    for v in found:
        if v.threshold is not None and not shared:
            ax.axhline(score.scale * v.threshold, color=colours[v.group.label], linestyle="--", linewidth=1, gid=v.group.label)
    if shared:
        ax.axhline(score.scale * thresholds[0], color=DENSE, linestyle="--", linewidth=1,
                   label=f"matching threshold, the same in every group ({rule})")
    else:
        ax.plot([], [], color="#555555", linestyle="--", linewidth=1, label=f"each group's matching threshold ({rule})")
    ax.fill_between([], [], [], color="#555555", alpha=BAND_ALPHA, linewidth=0, label="95% t-interval over seeds (none where n=1)")
    ax.plot([], [], color="#555555", marker="*", markersize=12, linestyle="none", label="sparsest matching point")
    weights_axis(ax, xs)
    low, high = ax.get_ylim()  # an interval of few seeds may pass 0 or 100%, which no score does
    ax.set_ylim(max(low, -2.0), min(high, 102.0) if score.higher_is_better else high)
    name = "test accuracy (%)" if score.higher_is_better else "test error (MSE)"
    ax.set(ylabel=name, title=f"Methods compared: {name.split(' (')[0]} with 95% confidence bands")
    legend(fig, [ax])
    return fig


def _draw(ax, v: GroupVerdict, colour: str, dense_drawn: bool) -> list[float]:
    """The group's mean per round, its band where it has an interval (from round 1 where round 0 is drawn
    once for all groups, `dense_drawn`), its sparsest matching point; the x values."""
    scale = v.score.scale
    points = [r for r in v.rounds if r.score is not None and r.density is not None and r.density > 0]
    if not points:
        return []
    xs = [100 * r.density for r in points]
    (line,) = ax.plot(xs, [scale * r.score.mean for r in points], color=colour, marker="o", markersize=4, label=v.group.legend)
    line.set_gid(v.group.label)
    banded = [r.interval is not None and not (dense_drawn and r.round == 0) for r in points]
    low = [scale * r.interval.low if r.interval else math.nan for r in points]
    high = [scale * r.interval.high if r.interval else math.nan for r in points]
    for first, last in _stretches(banded):
        if last > first:
            band = ax.fill_between(xs[first:last + 1], low[first:last + 1], high[first:last + 1], color=colour, alpha=BAND_ALPHA, linewidth=0)
        else:  # a round alone between rounds without an interval: its interval as a bar of the band's colour
            band = ax.vlines(xs[first], low[first], high[first], color=colour, alpha=2 * BAND_ALPHA, linewidth=5)
        band.set_gid(v.group.label)
    if (best := v.sparsest) is not None and best.density > 0:
        ax.plot([100 * best.density], [scale * best.score.mean], color=colour, marker="*", markersize=14, markeredgecolor=DENSE,
                markeredgewidth=0.6, linestyle="none", gid=v.group.label, zorder=4)
    return xs


def _stretches(flags: list[bool]) -> list[tuple[int, int]]:
    """(first, last) index of each run of consecutive True flags."""
    out, start = [], None
    for i, flag in enumerate([*flags, False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            out.append((start, i - 1))
            start = None
    return out
