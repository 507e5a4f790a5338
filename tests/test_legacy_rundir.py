"""A run directory made by an earlier release resumes under this code.

tests/golden/rundir_54f21ab/ is a real 2-round run, made by the code at commit
54f21ab (before the layout of the package changed and before `flops` became
`macs`) with `rlth-run <conftest.FAST> rounds=2`. Continuing it to 3 rounds must reuse its
rounds, not retrain them, and give the round-2 result that a run made entirely by
this code gives: same machine, so bit for bit.
"""

import json
import shutil
from pathlib import Path

import torch

LEGACY = Path(__file__).parent / "golden" / "rundir_54f21ab"


def weights(run: Path, k: int) -> dict:
    return torch.load(run / "rounds" / f"round_{k}" / "weights.pt", weights_only=True)


def test_a_run_made_by_the_previous_release_continues_to_the_same_result(make_cfg, tmp_path):
    from rlth_runner.run.runner import run

    legacy = tmp_path / "legacy"
    shutil.copytree(LEGACY, legacy)
    before = {k: (legacy / "rounds" / f"round_{k}" / "weights.pt").read_bytes() for k in (0, 1)}

    resumed = run(make_cfg("rounds=3", out=legacy))["summary"]
    fresh = run(make_cfg("rounds=3", out=tmp_path / "fresh"))["summary"]

    assert [r["round"] for r in resumed["rounds"]] == [0, 1, 2]
    for k in (0, 1):  # reused as they were: never retrained or rewritten
        assert (legacy / "rounds" / f"round_{k}" / "weights.pt").read_bytes() == before[k]
        recorded = json.loads((LEGACY / "rounds" / f"round_{k}" / "metrics.json").read_text())
        assert resumed["rounds"][k]["macs"] == recorded["flops"] and resumed["rounds"][k]["test_loss"] == recorded["test_loss"]
    for k in (0, 1, 2):  # the earlier release and this one train the same network
        mine, theirs = weights(legacy, k), weights(tmp_path / "fresh", k)
        assert mine.keys() == theirs.keys() and all(torch.equal(mine[n], theirs[n]) for n in mine), f"round {k}"
    drop = {"seconds"}
    assert {k: v for k, v in resumed["rounds"][2].items() if k not in drop} == {k: v for k, v in fresh["rounds"][2].items() if k not in drop}
