"""summary.json and the per-round table printed at the end of a run.

Downstream tools read summary.json: `status`, the run's description
(config.run_info) and `rounds`, one RoundRecord each (record.py).
"""

from __future__ import annotations

from datetime import datetime, timezone

from ..record import RoundRecord
from ..storage.rundir import RunDir


class Summary:
    """The summary of this invocation. A completed summary.json from an earlier
    one is never replaced by a worse one: it stays until this invocation has
    more rounds, or as many and completes; a failed or interrupted attempt
    before then is noted in it as `last_attempt`."""

    def __init__(self, run_dir: RunDir, info: dict):
        self.run_dir = run_dir
        self.rounds: list[RoundRecord] = []
        self.info = {"status": "running", **info, "started_at": _now()}
        before = run_dir.load_summary()
        self.completed_before = before if before and before.get("status") == "completed" else None
        self.write()

    @property
    def data(self) -> dict:
        return {**self.info, "rounds": [r.to_dict() for r in self.rounds]}

    def add_round(self, record: RoundRecord) -> None:
        self.rounds.append(record)
        self.write()

    def finish(self, status: str, **extra) -> None:
        self.info.update(status=status, finished_at=_now(), **extra)
        self.write()

    def write(self) -> None:
        best = self.completed_before
        if best is not None:
            n, n_best = len(self.rounds), len(best.get("rounds", []))
            if n == n_best and self.info["status"] == "completed" and _same_run(self.data, best):
                return  # a re-run that found every round done: the summary stays as written, its times included
            if not (n > n_best or (n == n_best and self.info["status"] == "completed")):
                if self.info["status"] in ("failed", "interrupted"):
                    attempt = {k: self.info[k] for k in ("status", "signal", "error") if k in self.info}
                    self.run_dir.write_summary({**best, "last_attempt": {**attempt, "rounds": n}})
                return
            self.completed_before = None  # surpassed
        self.run_dir.write_summary(self.data)


def _same_run(data: dict, before: dict) -> bool:
    """Whether two summaries say the same but when (and with how many threads) they were written."""
    drop = lambda d: {k: v for k, v in d.items() if k not in ("started_at", "finished_at", "threads")}  # noqa: E731
    return drop(data) == drop(before)


def _now() -> str:
    """When this invocation started or ended (UTC): which jobs of a sweep ran at the same time."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def record_failure(run_dir: RunDir, info: dict, error: str) -> None:
    """summary.json for a run that failed before its rounds began (a bad value in
    one job of a sweep), under the same rule as `Summary`: a completed summary stays."""
    before = run_dir.load_summary()
    if before and before.get("status") == "completed":
        run_dir.write_summary({**before, "last_attempt": {"status": "failed", "error": error, "rounds": 0}})
    else:
        run_dir.write_summary({**info, "status": "failed", "error": error, "rounds": []})


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.2f}"


def format_table(rounds: list[RoundRecord]) -> str:
    # regression rounds (e.g. dataset=teacher) have errors (MSE) instead of accuracies
    regression = any(r.test_error is not None for r in rounds)
    val_name, test_name = ("val error", "test error") if regression else ("best val acc %", "test acc %")
    header = (f"{'round':>5}  {'weights left %':>14}  {'nonzero params':>14}  {val_name:>14}  {test_name:>10}  {'steps':>6}"
              f"  {'hidden layers':>13}  {'MACs':>12}")
    lines = [header, "-" * len(header)]
    for r in rounds:
        if regression:
            val, test = f"{r.val_error:.4g}", f"{r.test_error:.4g}"
        else:
            val, test = _pct(r.val_acc), _pct(r.test_acc)
        depth = "-" if r.hidden_layers is None else str(r.hidden_layers)  # None: not a growable model
        macs = "-" if r.macs is None else f"{r.macs:,}"
        lines.append(f"{r.round:>5}  {100 * r.density:>14.2f}  {r.params_nonzero:>14,}  {val:>14}  {test:>10}  {r.train_steps:>6}"
                     f"  {depth:>13}  {macs:>12}")
    return "\n".join(lines)
