"""Verdicts per group and round, by the rules of Frankle et al. 2020 ("Linear mode
connectivity and the lottery ticket hypothesis"), and each group's headline:

* matching: a pruned round whose mean test accuracy over the seeds is at least
  the dense network's mean minus one standard deviation of it (with one dense
  seed, no std: at least the dense accuracy). The dense network is the group's
  round 0; a branch has none, and is compared with its parents' round 0 when
  the report holds them. A round 0 that is already pruned (pruning at
  initialisation, gradual pruning) is no dense network: such a group, or a
  branch of it, is compared with the dense round 0 of the report's other runs
  with the same dataset, model and training settings (e.g. the IMP runs of the
  same sweep), when it holds some. Regression (MSE): at most the dense mean plus one std.
* stable: a round whose mean instability barrier is under 2% test error (0.02).
* the sparsest matching point: the fewest weights remaining among the matching rounds.

The intervals (confidence.py) are over the same seeds. Nothing here pools
groups: each group is one config (groups.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..storage.layout import RunLayout
from . import stats
from .confidence import Interval, interval
from .groups import Group, differing
from .runs import Run
from .stats import Stat

STDS = 1.0  # matching: within this many of the dense network's standard deviations
STABLE_BELOW = 0.02  # stable: the barrier (test error, a fraction) under this
SLACK = 1e-12  # float noise a mean of equal values may carry: no verdict turns on it
REFERENCE, PARENTS, SAME_SETUP = "round 0", "the parents' round 0", "the dense round 0 of runs with the same data, model and training"
SETUP = ("dataset.", "model.", "train.")  # the config keys a dense run must share with a group pruned from round 0


@dataclass(frozen=True)
class Score:
    key: str  # the record's field: test_acc, or test_error for regression
    scale: float  # to the unit shown
    header: str
    kind: str  # tables.number's kind
    higher_is_better: bool


ACCURACY = Score("test_acc", 100.0, "test acc %", "percent", True)
ERROR = Score("test_error", 1.0, "test error (MSE)", "error", False)


def score(groups: list[Group]) -> Score:
    return ERROR if stats.regression(groups) else ACCURACY


@dataclass(frozen=True)
class RoundVerdict:
    round: int
    n: int  # runs that reached the round
    density: float | None  # mean fraction of prunable weights left
    score: Stat | None
    interval: Interval | None  # 95%, Student's t; None for one seed
    matching: bool | None  # None: the dense reference itself, or nothing to compare with
    barrier: Stat | None
    stable: bool | None  # None: no instability barrier


@dataclass(frozen=True)
class GroupVerdict:
    group: Group
    score: Score
    dense: Stat | None  # the dense network's score
    dense_from: str  # REFERENCE, PARENTS, or "" (none)
    threshold: float | None  # matching when the mean is at least (error: at most) this
    rounds: list[RoundVerdict]

    @property
    def sparsest(self) -> RoundVerdict | None:
        """The matching round with the fewest weights left (the earliest of equals); None if none matches."""
        found = [r for r in self.rounds if r.matching and r.density is not None]
        return min(found, key=lambda r: (r.density, r.round)) if found else None


def verdicts(groups: list[Group]) -> list[GroupVerdict]:
    """One verdict per group, in the groups' order."""
    by_path = {run.path.resolve(): run for g in groups for run in g.runs}
    chosen = score(groups)
    return [group_verdict(g, chosen, by_path) for g in groups]


def group_verdict(group: Group, chosen: Score, by_path: dict[Path, Run]) -> GroupVerdict:
    dense, dense_from = dense_reference(group, chosen, by_path)
    threshold = None
    if dense is not None:
        spread = STDS * (dense.std or 0.0)
        threshold = dense.mean - spread if chosen.higher_is_better else dense.mean + spread
    rounds = []
    for k in stats.rounds(group):
        s = stats.round_stat(group, k, chosen.key)
        density = stats.round_stat(group, k, "density")
        barrier = stats.round_stat(group, k, "instability_barrier")
        reference = k == 0 and dense_from == REFERENCE
        rounds.append(RoundVerdict(k, len(stats.at_round(group, k)), None if density is None else density.mean, s, interval(s),
                                   None if reference or s is None or threshold is None else _matches(s.mean, threshold, chosen),
                                   barrier, None if barrier is None else barrier.mean < STABLE_BELOW))
    return GroupVerdict(group, chosen, dense, dense_from, threshold, rounds)


def _matches(mean: float, threshold: float, chosen: Score) -> bool:
    return mean >= threshold - SLACK if chosen.higher_is_better else mean <= threshold + SLACK


def dense_reference(group: Group, chosen: Score, by_path: dict[Path, Run]) -> tuple[Stat | None, str]:
    """The dense network's score over the seeds: the group's round 0, or else (a branch) its parents',
    or else, when that round 0 was pruned, the dense round 0 of runs set up as the group's."""
    if stats.round_stat(group, 0, chosen.key) is not None:
        if _dense([r for _, r in stats.at_round(group, 0)]):
            return stats.round_stat(group, 0, chosen.key), REFERENCE
        return _same_setup(group, chosen, by_path)
    parents = {parent_of(run) for run in group.runs}
    if None in parents or not parents <= set(by_path):
        return None, ""
    records = [(by_path[p], r) for p in sorted(parents) for r in by_path[p].records if r.round == 0]
    if not _dense([r for _, r in records]):
        return _same_setup(group, chosen, by_path)
    found = stats.stat([stats.value(run, r, chosen.key) for run, r in records])
    return (found, PARENTS) if found is not None else (None, "")


def _dense(records: list) -> bool:
    return bool(records) and all(r.density is None or r.density >= 1.0 - SLACK for r in records)


def _same_setup(group: Group, chosen: Score, by_path: dict[Path, Run]) -> tuple[Stat | None, str]:
    setup = lambda run: {k: v for k, v in run.config.items() if k.startswith(SETUP)}  # noqa: E731
    wanted = setup(group.runs[0])
    values = [stats.value(run, r, chosen.key) for run in by_path.values() if setup(run) == wanted and parent_of(run) is None
              for r in run.records if r.round == 0 and _dense([r])]
    found = stats.stat(values)
    return (found, SAME_SETUP) if found is not None else (None, "")


def parent_of(run: Run) -> Path | None:
    """The run a branch trained off: the directory its branches/ folder is in (storage/layout.py),
    or else its `branch.from`; None for a run that is no branch."""
    real = run.path.resolve()
    if RunLayout(real.parent.parent).branches == real.parent:
        return real.parent.parent
    origin = run.config.get("branch.from")
    return Path(origin).resolve() if origin else None


def compared(groups: list[Group]) -> bool:
    """Whether the groups are methods: they differ in the pruner (its schedule included), the policy or the branch."""
    if len(groups) < 2:
        return False
    return any(key.split(".")[0] in ("pruner", "policy", "branch") for key in differing([g.runs[0] for g in groups]))
