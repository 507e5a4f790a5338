"""Accuracy against the one number a sweep varies (a width, a sample count, a
learning rate), when the groups differ in exactly that: the shape of a
scaling claim, such as a random network's subnetworks improving with width."""

from __future__ import annotations

from . import stats
from .groups import Group
from .plots import figure, legend


def swept_number(groups: list[Group]) -> str | None:
    """The config key whose value tells the groups apart, when there is exactly one and it is a number."""
    if len(groups) < 3:  # two points make no curve: the group plots already compare them
        return None
    keys = {key for g in groups for run in g.runs for key in run.settings} - {"seed"}
    differing = [key for key in sorted(keys) if len({repr(_value(g, key)) for g in groups}) > 1]
    if len(differing) != 1:
        return None
    key = differing[0]
    values = [_value(g, key) for g in groups]
    return key if all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in values) else None


def _value(group: Group, key: str):
    return group.runs[0].settings.get(key)


def accuracy_against_swept(groups: list[Group], colours: dict[str, str]):
    """The last common round's test accuracy (and the untrained network's, when recorded)
    against the swept number, log scale; None when the groups do not differ in one number."""
    key = swept_number(groups)
    if key is None or stats.regression(groups):
        return None
    fig, ((ax,),) = figure()
    ordered = sorted(groups, key=lambda g: _value(g, key))
    for measure, name, style in (("test_acc", "test accuracy, last round", "-"), ("supermask_acc", "before training (supermask)", ":")):
        points = [(float(_value(g, key)), s) for g in ordered if (s := stats.round_stat(g, stats.last_common_round(g), measure, 100))]
        if not points:
            continue
        ax.plot([x for x, _ in points], [s.mean for _, s in points], color="#555555", linestyle=style, label=name)
        for g, (x, s) in zip(ordered, points):
            ax.errorbar([x], [s.mean], yerr=[s.std or 0.0], color=colours[g.label], marker="o", capsize=3, gid=g.label,
                        label=g.legend if measure == "test_acc" else None)
    ax.set_xscale("log")
    ax.set_xticks([float(_value(g, key)) for g in ordered], [f"{_value(g, key):g}" for g in ordered])
    ax.minorticks_off()
    ax.set(xlabel=f"{key} (log scale)", ylabel="test accuracy (%)", title=f"Test accuracy against {key}")
    ax.grid(alpha=0.3)
    legend(fig, [ax])
    return fig
