"""Four whole runs must reproduce, number for number, the round records that
were saved before the refactor of issue 11 (tests/golden/refactor_baseline.json,
made with `rlth-run <overrides>` on digits by the code at commit 6b41a7b).

Any change to training, pruning, the policies, seeding or the round record
shows up here. `seconds` is wall-clock time and is left out.
"""

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from rlth_runner.entry.conf import CONFIG_DIR
from rlth_runner.run.runner import run

GOLDEN = json.loads((Path(__file__).parent / "golden" / "refactor_baseline.json").read_text())


@pytest.mark.parametrize("case, extra", [(case, []) for case in sorted(GOLDEN)] + [("rewind", ["train.steps_per_block=1"])])
def test_refactored_code_reproduces_the_recorded_rounds(case, extra, tmp_path):
    """`train.steps_per_block=1` (plain Lightning) must give the same numbers too."""
    expected = GOLDEN[case]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*expected["overrides"], *extra, f"paths.output_dir={tmp_path}"])
    summary = run(cfg)["summary"]
    got = [{k: v for k, v in r.items() if k != "seconds"} for r in summary["rounds"]]
    assert len(got) == len(expected["rounds"])
    for mine, theirs in zip(got, expected["rounds"]):
        # Keys added after the baseline may exist; every recorded key must match exactly.
        assert {k: mine.get(k) for k in theirs} == theirs, f"round {theirs['round']} of {case} differs"
