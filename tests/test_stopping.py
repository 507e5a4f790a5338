"""Stopping rules end the run at the first target met; verification retrains the final subnetwork."""

import json

import pytest
from omegaconf import OmegaConf

from rlth_runner.lottery import stopping
from rlth_runner.record import RoundRecord
from rlth_runner.run.runner import run

STOP = dict(accuracy=None, metric="val_acc", density=None, compression=None)


def rnd(k, density, nonzero, acc=0.5):
    return RoundRecord(round=k, density=density, layer_density={}, params_total=1000, params_nonzero=nonzero, hidden_layers=None,
                       macs=0, val_acc=acc, test_acc=acc, test_loss=1.0)


def retrained(test_acc):
    return RoundRecord(round=1, density=0.5, layer_density={}, params_total=1000, params_nonzero=500, hidden_layers=None,
                       macs=0, val_acc=None, test_acc=test_acc, test_loss=1.0)


def test_each_rule_and_round_0_never_stops():
    first = rnd(0, 1.0, 1000, acc=0.99)
    cfg = OmegaConf.create({**STOP, "accuracy": 0.9, "density": 0.5, "compression": 4})
    assert stopping.check(cfg, first, first) is None
    assert stopping.check(cfg, first, rnd(1, 0.8, 800, acc=0.85)) is None
    assert stopping.check(cfg, first, rnd(1, 0.8, 800, acc=0.95))[0] == "accuracy"
    assert stopping.check(cfg, first, rnd(2, 0.5, 600))[0] == "density"
    assert stopping.check(cfg, first, rnd(3, 0.6, 250))[0] == "compression"
    rule, message = stopping.check(cfg, first, rnd(4, 0.4, 200, acc=0.95))
    assert rule == "accuracy" and "density" in message and "compression" in message and "after round 4" in message


def test_judge_compares_with_the_reference_within_tolerance():
    rounds = [rnd(0, 1.0, 1000, acc=0.90), rnd(1, 0.5, 500, acc=0.88)]
    v = OmegaConf.create({"metric": "test_acc", "reference": "dense", "tolerance": 0.01})
    stop = OmegaConf.create(STOP)
    assert stopping.judge(v, stop, rounds, retrained(0.895))["winning_ticket"] is True
    out = stopping.judge(v, stop, rounds, retrained(0.885))
    assert out["winning_ticket"] is False and out["gap"] == pytest.approx(-0.015) and out["compression"] == 2.0
    v.reference = "final"
    assert stopping.judge(v, stop, rounds, retrained(0.875))["winning_ticket"] is True
    stop.density = 0.4  # the subnetwork must also be small enough
    out = stopping.judge(v, stop, rounds, retrained(0.95))
    assert out["size_ok"] is False and out["winning_ticket"] is False


def summary(out):
    return json.loads((out / "summary.json").read_text())


def test_density_target_stops_the_run_and_a_rerun_stops_there_too(make_cfg, tmp_path):
    out = tmp_path / "run"
    cfg = make_cfg("rounds=6", "pruner.sparsity=0.5", "stop.density=0.3", "train.max_steps=2", out=out)
    run(cfg)
    s = summary(out)
    assert [r["round"] for r in s["rounds"]] == [0, 1, 2]
    assert s["stopped_by"] == "density" and "after round 2" in s["stop_reason"]
    run(cfg)
    assert [r["round"] for r in summary(out)["rounds"]] == [0, 1, 2]
    assert not (out / "rounds" / "round_3").exists()


@pytest.mark.parametrize("override, rule, last", [
    ("stop.accuracy=0.0", "accuracy", 1),  # met at once, but round 0 is never checked
    ("stop.compression=1.9", "compression", 3),  # 0.8^3 of the weights left, biases included
    ("stop.density=0.001", "max_rounds", 3),
])
def test_first_rule_met_ends_the_run(make_cfg, tmp_path, override, rule, last):
    out = tmp_path / "run"
    run(make_cfg("rounds=4", override, "train.max_steps=2", out=out))
    s = summary(out)
    assert s["stopped_by"] == rule and s["rounds"][-1]["round"] == last


def test_verification_retrains_from_the_rounds_starting_point(make_cfg, tmp_path):
    """With the round's own batch order the retraining reproduces the round
    exactly, which shows it starts from the same weights; the default order differs."""
    out = tmp_path / "run"
    run(make_cfg("rounds=2", "verify.enabled=true", "verify.seed=1", "verify.reference=final", "verify.tolerance=1.0", out=out))
    s = summary(out)
    v = s["verification"]
    assert v["round"] == 1 and v["seed"] == 1 and v["reference"] == "final"
    assert v["acc"] == pytest.approx(s["rounds"][1]["test_acc"]) and v["winning_ticket"] is True
    assert v["compression"] == pytest.approx(s["rounds"][0]["params_nonzero"] / s["rounds"][1]["params_nonzero"])
    assert (out / "verification" / "metrics.json").exists()

    other = tmp_path / "other"
    run(make_cfg("rounds=2", "verify.enabled=true", "verify.tolerance=0.0", out=other))
    v2 = summary(other)["verification"]
    assert v2["seed"] == 999 and v2["reference"] == "dense"
    assert v2["winning_ticket"] == (v2["acc"] >= summary(other)["rounds"][0]["test_acc"])
