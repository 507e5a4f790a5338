"""summary.json and the per-round table printed at the end of a run.

Downstream tools read summary.json: keep `status` and the per-round keys
`round`, `density`, `params_total`, `params_nonzero`, `val_acc`, `test_acc`
and `train_steps` stable.
"""

from __future__ import annotations

from pathlib import Path

from .store import write_json


class Summary:
    def __init__(self, path: Path, info: dict):
        self.path = Path(path)
        self.data = {"status": "running", **info, "rounds": []}
        self.write()

    def add_round(self, metrics: dict) -> None:
        self.data["rounds"].append(metrics)
        self.write()

    def finish(self, status: str, **extra) -> None:
        self.data.update(status=status, **extra)
        self.write()

    def write(self) -> None:
        write_json(self.path, self.data)


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.2f}"


def format_table(rounds: list[dict]) -> str:
    header = f"{'round':>5}  {'weights left %':>14}  {'nonzero params':>14}  {'best val acc %':>14}  {'test acc %':>10}  {'steps':>6}"
    lines = [header, "-" * len(header)]
    for r in rounds:
        lines.append(
            f"{r['round']:>5}  {100 * r['density']:>14.2f}  {r['params_nonzero']:>14,}  {_pct(r['val_acc']):>14}  {_pct(r['test_acc']):>10}  {r['train_steps']:>6}"
        )
    return "\n".join(lines)
