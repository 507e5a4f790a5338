"""Mean ± sample standard deviation over a group's runs, per round: what the
tables print and the plots draw, computed in one place so that they agree."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from ..record import RoundRecord
from .groups import Group
from .runs import EXPORT_KEYS, Run


@dataclass(frozen=True)
class Stat:
    mean: float
    std: float | None  # None for one value: a sample std needs two
    n: int


def stat(values: list[float | None]) -> Stat | None:
    """Over the values that exist; None when none does."""
    present = [float(v) for v in values if v is not None]
    if not present:
        return None
    return Stat(statistics.fmean(present), statistics.stdev(present) if len(present) > 1 else None, len(present))


def value(run: Run, record: RoundRecord, key: str) -> float | None:
    """A round's value of `key`: a RoundRecord field, or `instability_barrier`, which
    a run made before the record had that field keeps in instability.json."""
    if key in EXPORT_KEYS:  # not a record field: from the round's ticket.json
        return run.exports.get(record.round, {}).get(key)
    return run.barrier(record) if key == "instability_barrier" else getattr(record, key, record.extra.get(key))


def rounds(group: Group) -> list[int]:
    return sorted({r.round for run in group.runs for r in run.records})


def at_round(group: Group, k: int) -> list[tuple[Run, RoundRecord]]:
    """Each run's record of round k, for the runs that reached it."""
    return [(run, r) for run in group.runs for r in run.records if r.round == k]


def round_stat(group: Group, k: int, key: str, scale: float = 1.0) -> Stat | None:
    values = [value(run, r, key) for run, r in at_round(group, k)]
    return stat([None if v is None else scale * v for v in values])


def last_common_round(group: Group) -> int:
    """The last round every run of the group reached (a stopping rule may end a run early)."""
    return min(max(r.round for r in run.records) for run in group.runs)


def any_value(groups: list[Group], key: str) -> bool:
    return any(value(run, r, key) is not None for g in groups for run in g.runs for r in run.records)


def regression(groups: list[Group]) -> bool:
    """Whether the runs report errors (MSE) instead of accuracies (dataset=teacher)."""
    return not any_value(groups, "test_acc") and any_value(groups, "test_error")
