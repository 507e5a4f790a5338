"""A round whose training loss ends above where it started (a learning rate far
too high) is flagged in its record and in one warning line, or fails the run
with stop.on_divergence=true (training/divergence.py). The loss stays finite,
so the NaN guard never sees it."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from test_bad_input import TINY, cli, composed  # noqa: F401 - fixtures
from rlth_runner.config import ConfigError, validate
from rlth_runner.training import divergence


def test_a_diverged_round_is_flagged_in_its_record_and_one_warning(cli, tmp_path):
    run_dir = tmp_path / "run"
    code, out, err = cli(*TINY, "rounds=2", "train.lr=1e6", f"hydra.run.dir={run_dir}")
    assert code == 0, err
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert [r["diverged"] for r in summary["rounds"]] == [True, True]
    warnings = [line for line in out.splitlines() if line.startswith("Round") and "diverged" in line]
    assert len(warnings) == 2 and warnings[0].startswith("Round 0 diverged: the training loss rose from ")
    assert "lower train.lr (stop.on_divergence=true makes this an error)" in warnings[0]
    assert json.loads((run_dir / "rounds" / "round_1" / "metrics.json").read_text())["diverged"] is True


def test_a_round_that_learns_is_not_flagged(cli, tmp_path):
    run_dir = tmp_path / "run"
    code, out, err = cli(*TINY, f"hydra.run.dir={run_dir}")
    assert code == 0, err
    assert json.loads((run_dir / "summary.json").read_text())["rounds"][0]["diverged"] is False
    assert not [line for line in out.splitlines() if line.startswith("Round") and "diverged" in line]


def test_stop_on_divergence_fails_the_run_in_one_line(cli, tmp_path):
    run_dir = tmp_path / "run"
    code, out, err = cli(*TINY, "rounds=2", "train.lr=1e6", "stop.on_divergence=true", f"hydra.run.dir={run_dir}")
    assert code == 1 and "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("rlth-run:")]  # besides the progress bar
    assert len(errors) == 1 and errors[0].startswith("rlth-run: error: round 0 diverged: the training loss rose from "), err
    assert "stop.on_divergence=true; lower train.lr" in errors[0]
    assert not [line for line in out.splitlines() if line.startswith("Round") and "diverged" in line]  # no warning besides the error
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["error"].startswith("round 0 diverged") and summary["rounds"] == []


def test_the_verdict_compares_the_last_epoch_with_the_first_step_within_a_margin():
    stop = False  # stop.on_divergence
    fit = lambda first, last: SimpleNamespace(first_loss=first, last_loss=last)  # noqa: E731
    assert divergence.judge(fit(torch.tensor(2.3), torch.tensor(0.4)), stop, 0) is False
    assert divergence.judge(fit(torch.tensor(2.3), torch.tensor(2.3 * 1.4)), stop, 0) is False  # within one batch's noise
    assert divergence.judge(fit(torch.tensor(2.3), torch.tensor(7.6e5)), stop, 0) is True
    assert divergence.judge(fit(None, torch.tensor(1.0)), stop, 0) is None  # not measured (an older checkpoint)
    assert divergence.judge(fit(2.3, 4.0), stop, 0, agree=lambda verdict: (False, 2.3, 2.0)) is False  # rank 0 decides
    with pytest.raises(divergence.LossDiverged, match=r"^round 3 diverged: the training loss rose from 2.3 at its first step to 7.6e\+05"):
        divergence.judge(fit(2.3, 7.6e5), True, 3)


def test_stop_on_divergence_is_true_or_false(composed):
    validate(composed(stop__on_divergence=True))
    with pytest.raises(ConfigError, match=r"^stop.on_divergence='yes' must be true or false$"):
        validate(composed(stop__on_divergence="yes"))
