"""The methods compared: test accuracy against weights remaining for groups that
differ in the pruner (its schedule included), the policy or the branch, each
with its 95% confidence band over the seeds (confidence.py), its matching
threshold and its sparsest matching point (verdicts.py). The groups' colours
and the weights-remaining axis are plots.py's."""

from __future__ import annotations

import math

from .plots import DENSE, figure, legend, weights_axis
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
    for v in found:
        xs += _draw(ax, v, colours[v.group.label])
    if not xs:
        return None
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
    name = "test accuracy (%)" if score.higher_is_better else "test error (MSE)"
    ax.set(ylabel=name, title=f"Methods compared: {name.split(' (')[0]} with 95% confidence bands")
    legend(fig, [ax])
    return fig


def _draw(ax, v: GroupVerdict, colour: str) -> list[float]:
    """The group's mean per round, its band where it has an interval, its sparsest matching point; the x values."""
    scale = v.score.scale
    points = [r for r in v.rounds if r.score is not None and r.density is not None and r.density > 0]
    if not points:
        return []
    xs = [100 * r.density for r in points]
    (line,) = ax.plot(xs, [scale * r.score.mean for r in points], color=colour, marker="o", markersize=4, label=v.group.legend)
    line.set_gid(v.group.label)
    if any(r.interval is not None for r in points):
        low = [scale * (r.interval.low if r.interval else r.score.mean) for r in points]
        high = [scale * (r.interval.high if r.interval else r.score.mean) for r in points]
        band = ax.fill_between(xs, low, high, where=[r.interval is not None for r in points], color=colour, alpha=BAND_ALPHA,
                               linewidth=0)
        band.set_gid(v.group.label)
    if (best := v.sparsest) is not None and best.density > 0:
        ax.plot([100 * best.density], [scale * best.score.mean], color=colour, marker="*", markersize=14, markeredgecolor=DENSE,
                markeredgewidth=0.6, linestyle="none", gid=v.group.label, zorder=4)
    return xs
