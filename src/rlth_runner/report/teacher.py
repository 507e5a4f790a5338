"""Sample complexity on the teacher data (Zhang et al., "Why Lottery Ticket
Wins?", Fig. 6 and its convergence claim): the student's test error, and the
steps it takes to reach `train.target_error`, against the weights remaining,
one line per group (a sweep over `dataset.N` gives one line per training-set
size).

The teacher's own density is marked: each of its neurons reads r of the d
inputs, so r/d of a first layer's weights are nonzero. With model=student the
first layer is every prunable weight, so the x axis and the mark are the same
quantity; a round left of the mark has fewer weights than the teacher needs.
"""

from __future__ import annotations

from . import stats
from .groups import Group
from .plots import figure, legend, series, weights_axis

TEACHER = "teacher"
MARK = "#555555"


def on_teacher(groups: list[Group]) -> bool:
    return bool(groups) and all(run.config.get("dataset.name") == TEACHER for g in groups for run in g.runs)


def teacher_density(groups: list[Group]) -> float | None:
    """r/d in %, when every run has the same teacher sparsity."""
    found = {(run.config.get("dataset.r"), run.config.get("dataset.d")) for g in groups for run in g.runs}
    if len(found) != 1:
        return None
    r, d = found.pop()
    return 100 * r / d if r and d else None


def target(groups: list[Group]) -> float | None:
    """train.target_error, when every run waited for the same one."""
    found = {run.config.get("train.target_error") for g in groups for run in g.runs}
    return found.pop() if len(found) == 1 else None


def reached_by_all(group: Group) -> list[tuple[int, float, float, float]]:
    """(round, weights remaining %, mean, std) of steps_to_target over the rounds where every run
    of the group reached the target: a mean over only the runs that did would flatter the round."""
    return [p for p in series(group, "steps_to_target") if stats.round_stat(group, p[0], "steps_to_target").n == len(stats.at_round(group, p[0]))]


def _line(ax, group: Group, colour: str, points, label: bool) -> None:
    # A whisker below zero has no place on a log axis: there only the upper one is drawn.
    lower = [s if m - s > 0 else 0.0 for _, _, m, s in points]
    bars = ax.errorbar([p[1] for p in points], [p[2] for p in points], yerr=[lower, [p[3] for p in points]], color=colour, marker="o",
                       markersize=4, capsize=3, label=group.legend if label else None)
    for artist in (bars.lines[0], *bars.lines[1], *bars.lines[2]):
        artist.set_gid(group.label)


def sample_complexity(groups: list[Group], colours: dict[str, str]):
    """Test error (log scale) against weights remaining and, with train.target_error, the steps to
    reach it; None unless every run is on the teacher data."""
    if not on_teacher(groups) or not stats.any_value(groups, "test_error"):
        return None
    goal = target(groups)
    convergence = goal is not None and stats.any_value(groups, "steps_to_target")
    fig, axes = figure(1, 2 if convergence else 1, width=12.0 if convergence else 7.0)
    error_ax = axes[0][0]
    xs = []
    for g in groups:
        points = series(g, "test_error")
        xs += [p[1] for p in points]
        _line(error_ax, g, colours[g.label], points, label=True)
    error_ax.set_yscale("log")
    error_ax.set(ylabel="test error (MSE, log scale)", title="Test error (MSE against the noiseless teacher)")
    panels = [error_ax]
    if convergence:
        steps_ax = axes[0][1]
        for g in groups:
            if points := reached_by_all(g):
                _line(steps_ax, g, colours[g.label], points, label=False)
        steps_ax.set(ylabel="optimizer steps (rounds every run reached it)", title=f"Steps to a validation MSE <= {goal:g}")
        steps_ax.set_ylim(bottom=0)
        panels.append(steps_ax)
    mark = teacher_density(groups)
    for ax in panels:
        weights_axis(ax, xs + ([mark] if mark else []))
        if mark:
            ax.axvline(mark, color=MARK, linestyle=":", linewidth=1.2,
                       label=f"teacher: r/d = {mark:g}% of first-layer weights nonzero" if ax is error_ax else None)
    fig.suptitle("Sample complexity: the pruned student against the teacher (mean ± std over seeds per round)")
    legend(fig, panels)
    return fig
