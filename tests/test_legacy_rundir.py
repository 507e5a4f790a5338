"""A run directory made by an earlier release resumes under this code.

tests/golden/rundir_54f21ab/ is a real 2-round run, made by the code at commit
54f21ab (before the layout of the package changed and before `flops` became
`macs`) with `rlth-run <conftest.FAST> rounds=2`. Continuing it to 3 rounds must
reuse its rounds, not retrain them, and give the round-2 result that a run made
entirely by this code gives. The directory was made on one CPU and is resumed on
every other, so results compare as recorded.py says: counts exactly, losses and
accuracies within float32 rounding.
"""

import json
import shutil
from pathlib import Path

import pytest
from recorded import differences

from rlth_runner.record import FORMER_KEYS

pytestmark = pytest.mark.recorded

LEGACY = Path(__file__).parent / "golden" / "rundir_54f21ab"
DIGITS_FEATURES = 8 * 8


def test_a_run_made_by_the_previous_release_continues_to_the_same_result(make_cfg, tmp_path):
    from rlth_runner.run.runner import run

    legacy = tmp_path / "legacy"
    shutil.copytree(LEGACY, legacy)
    before = {k: (legacy / "rounds" / f"round_{k}" / "weights.pt").read_bytes() for k in (0, 1)}

    cfg = make_cfg("rounds=3", out=legacy)
    resumed = run(cfg)["summary"]["rounds"]
    fresh = run(make_cfg("rounds=3", out=tmp_path / "fresh"))["summary"]["rounds"]

    assert [r["round"] for r in resumed] == [0, 1, 2]
    for k in (0, 1):  # reused as they were: never retrained or rewritten
        assert (legacy / "rounds" / f"round_{k}" / "weights.pt").read_bytes() == before[k]
        recorded = json.loads((LEGACY / "rounds" / f"round_{k}" / "metrics.json").read_text())
        assert resumed[k]["macs"] == recorded["flops"] and resumed[k]["test_loss"] == recorded["test_loss"]
    sizes = {"longest_sum": max(cfg.train.batch_size, cfg.model.width, DIGITS_FEATURES),
             "eval_sizes": {"val_size": cfg.dataset.val_size, "test_size": cfg.dataset.test_size}}
    # Rounds 0 and 1 hold what the earlier release measured: fields added since are compared in round 2.
    known = {FORMER_KEYS.get(key, key) for key in json.loads((LEGACY / "rounds" / "round_0" / "metrics.json").read_text())}
    expected = [{key: v for key, v in r.items() if key != "seconds" and v is not None and (r["round"] == 2 or key in known)}
                for r in fresh]
    # The earlier release and this one train the same network, and round 2 continues from it.
    assert differences(resumed, expected, **sizes) == []
