"""Budget matching (train.budget): each round's optimizer steps and their training MACs,
from the pure arithmetic of budget.py to the records of real digits runs."""

from __future__ import annotations

import pytest

from rlth_runner.config import ConfigError, fingerprint, validate
from rlth_runner.lottery import budget
from rlth_runner.run.runner import run

# The FAST digits MLP (64 -> 32 -> 32 -> 10): MACs per example through the weights
# 20% of each layer's weights are pruned per round, each layer keeping floor(n * (1 - p)^k + 0.5).
MACS = [64 * 32 + 32 * 32 + 32 * 10, 1638 + 819 + 256, 1311 + 655 + 205]  # 3392, 2713, 2171
TRAIN_EXAMPLES = 1797 - 360 - 180  # digits less the test and validation splits: 20 batches of 64, the last of 41
BATCHES = 20


@pytest.mark.parametrize("mode, k, dense, pruned, cap, steps", [
    ("fixed", 3, 100, 10, 10, 200),
    ("cumulative", 0, 100, 100, 10, 200),
    ("cumulative", 3, 100, 10, 10, 800),
    ("flops", 0, 100, 100, 10, 200),
    ("flops", 2, 100, 30, 10, 666),  # 200 x 100 / 30 = 666.7: never more compute than the dense round
    ("flops", 5, 100, 5, 10, 2000),  # 20x cheaper, capped at 10 fixed rounds
    ("flops", 5, 100, 5, 2.5, 500),
    ("flops", 1, 100, 400, 10, 50),  # a grown network, costlier than the dense one, trains less
])
def test_each_budget_gives_the_known_steps(mode, k, dense, pruned, cap, steps):
    assert budget.round_steps(mode, k, 200, dense, pruned, cap) == steps


def test_steps_become_trainer_limits_examples_and_macs():
    assert budget.trainer_limits(40, 20) == (2, -1)  # whole epochs: max_epochs alone, as fixed rounds always were
    assert budget.trainer_limits(50, 20) == (3, 50)
    assert budget.examples_seen(8, BATCHES, TRAIN_EXAMPLES, 64) == 512
    assert budget.examples_seen(24, BATCHES, TRAIN_EXAMPLES, 64) == 1257 + 4 * 64  # one epoch, then 4 batches
    assert budget.examples_seen(3, 3, 5, 2) == 5 and budget.examples_seen(4, 3, 5, 2) == 5 + 2  # batches of 2, 2 and 1
    assert budget.examples_seen(3, 1, 5, 4) == 3 * 4  # 4 DDP ranks dropped the last batch (1 example)
    assert budget.train_macs(1000, 64) == 3 * 1000 * 64


@pytest.mark.parametrize("mode, extra, steps", [
    ("fixed", [], [8, 8, 8]),
    ("cumulative", [], [8, 16, 24]),
    # 8 x 3392 // 2713 = 10; 8 x 3392 // 2171 = 12, capped at floor(1.4 x 8) = 11
    ("flops", ["train.budget_cap=1.4"], [8, 10, 11]),
])
def test_each_round_trains_its_budget_and_records_its_macs(make_cfg, mode, extra, steps):
    rounds = run(make_cfg("rounds=3", f"train.budget={mode}", *extra))["summary"]["rounds"]
    assert [r["macs"] for r in rounds] == MACS
    assert [r["train_steps"] for r in rounds] == steps
    for r in rounds:
        assert r["train_macs"] == 3 * r["macs"] * budget.examples_seen(r["train_steps"], BATCHES, TRAIN_EXAMPLES, 64)
    if mode == "cumulative":
        assert rounds[2]["train_macs"] == 3 * 2171 * (TRAIN_EXAMPLES + 4 * 64) and rounds[2]["epochs"] == 2


def test_policy_rewind_captures_in_round_0_whatever_the_budget(make_cfg, tmp_path):
    out = tmp_path / "run"
    rounds = run(make_cfg("rounds=2", "train.budget=cumulative", "policy=rewind", "policy.step=5", out=out))["summary"]["rounds"]
    assert [r["train_steps"] for r in rounds] == [8, 16]
    assert (out / "rewind.pt").exists()


@pytest.mark.parametrize("override, needle", [
    ("train.budget=steps", "train.budget='steps' is not one of: fixed, cumulative, flops"),
    ("train.budget_cap=0.5", "train.budget_cap=0.5 must be a number >= 1 and finite"),
    ("train.budget_cap=inf", "train.budget_cap=inf must be a number >= 1 and finite"),
])
def test_bad_budget_values_are_one_line_naming_the_key(make_cfg, override, needle):
    with pytest.raises(ConfigError) as err:
        validate(make_cfg(override))
    assert "\n" not in str(err.value) and str(err.value).startswith(needle)


def test_a_run_made_before_schedules_and_budgets_continues_only_with_the_old_behaviour(make_cfg):
    new_keys = {k for k in fingerprint.ADDED if k.startswith("train.")}
    assert {"train.budget", "train.budget_cap", "train.schedule.name", "train.schedule.warmup_steps"} <= new_keys
    current = fingerprint.settings(make_cfg())
    old = {k: v for k, v in current.items() if k not in new_keys}  # as an older version stored it
    assert fingerprint.differences(old, current) == []
    changed = fingerprint.settings(make_cfg("train.budget=flops", "train.schedule.name=cosine"))
    assert fingerprint.differences(old, changed) == ['train.budget=unset (this command: "flops")',
                                                     'train.schedule.name=unset (this command: "cosine")']
