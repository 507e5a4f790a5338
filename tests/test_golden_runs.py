"""Four whole runs must reproduce the round records that were saved before the
refactor of the round loop (tests/golden/refactor_baseline.json, made with
`rlth-run <overrides>` on digits by the code at commit 6b41a7b).

The records were made on one CPU and are checked on every other, so counts and
decisions compare exactly and losses within float32 rounding (recorded.py says
how far and why). Any change to training, pruning, the policies, seeding or the
round record shows up here: the last test shows that a real change does.
`seconds` is wall-clock time and is left out.
"""

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from recorded import differences

from rlth_runner.entry.conf import CONFIG_DIR
from rlth_runner.run.runner import run

pytestmark = pytest.mark.recorded

GOLDEN = json.loads((Path(__file__).parent / "golden" / "refactor_baseline.json").read_text())
DIGITS_FEATURES = 8 * 8


def run_case(overrides: list[str], tmp_path: Path) -> tuple[list[dict], dict]:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*overrides, f"paths.output_dir={tmp_path}"])
    records = [{k: v for k, v in r.items() if k != "seconds"} for r in run(cfg)["summary"]["rounds"]]
    # The longest float32 sum in a step: over the batch, or over the widest layer's inputs (the digits MLP).
    sizes = {"longest_sum": max(cfg.train.batch_size, cfg.model.width, DIGITS_FEATURES),
             "eval_sizes": {"val_size": cfg.dataset.val_size, "test_size": cfg.dataset.test_size}}
    return records, sizes


@pytest.mark.parametrize("case, extra", [(case, []) for case in sorted(GOLDEN)] + [("rewind", ["train.steps_per_block=1"])])
def test_refactored_code_reproduces_the_recorded_rounds(case, extra, tmp_path):
    """`train.steps_per_block=1` (plain Lightning) must give the same numbers too."""
    expected = GOLDEN[case]
    got, sizes = run_case([*expected["overrides"], *extra], tmp_path)
    assert differences(got, expected["rounds"], **sizes) == []


@pytest.mark.parametrize("change, caught", [
    ("train.lr=1.01e-3", "test_loss"),      # a learning rate 1% off: every count equal, the losses 1.1-1.4% off
    ("train.max_steps=39", "train_steps"),  # one optimizer step fewer in each round
    ("pruner.sparsity=0.2001", "params_nonzero"),  # a few more weights pruned in round 1
])
def test_a_real_change_is_caught_by_the_recorded_comparison(change, caught, tmp_path):
    """The tolerance is for rounding: the smallest real changes still fail the comparison."""
    expected = GOLDEN["default"]
    got, sizes = run_case([*expected["overrides"], "rounds=2", change], tmp_path)
    problems = differences(got, expected["rounds"][:2], **sizes)
    assert any(f" {caught}: " in p for p in problems), problems
