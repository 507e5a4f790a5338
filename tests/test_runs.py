"""Whole runs in-process: resuming, NaN losses, summary contents."""

import json

import pytest
import torch

from rlth_runner.run.runner import RunError, run


def weights(run_dir, k):
    return torch.load(run_dir / "rounds" / f"round_{k}" / "weights.pt", weights_only=True)


def test_resumed_run_matches_uninterrupted(make_cfg, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    run(make_cfg("rounds=3", out=straight))
    run(make_cfg("rounds=2", out=resumed))  # "killed" after round 1
    (resumed / "rounds" / "round_1" / "metrics.json").unlink()  # ... in fact during round 1
    run(make_cfg("rounds=3", out=resumed))

    for k in range(3):
        a, b = weights(straight, k), weights(resumed, k)
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), f"round {k} {key} differs after resume"
    s1 = json.loads((straight / "summary.json").read_text())
    s2 = json.loads((resumed / "summary.json").read_text())
    assert s2["status"] == "completed"
    drop = lambda r: {k: v for k, v in r.items() if k != "seconds"}  # noqa: E731
    assert [drop(r) for r in s1["rounds"]] == [drop(r) for r in s2["rounds"]]


def test_nan_loss_fails_clearly_and_keeps_finished_rounds(make_cfg, tmp_path, monkeypatch):
    from rlth_runner.training.tasks import Classifier

    out = tmp_path / "nan"
    run(make_cfg("rounds=1", out=out))
    measure = Classifier.measure

    def diverging(self, batch):
        loss, sums, n = measure(self, batch)
        return loss * float("nan"), sums, n

    monkeypatch.setattr(Classifier, "measure", diverging)  # round 1 diverges
    with pytest.raises(RunError, match="loss became"):
        run(make_cfg("rounds=2", out=out))
    summary = json.loads((out / "summary.json").read_text())
    # The completed 1-round summary is not replaced by a worse one; the failure is noted in it.
    assert summary["status"] == "completed" and [r["round"] for r in summary["rounds"]] == [0]
    assert summary["last_attempt"]["status"] == "failed" and "loss became" in summary["last_attempt"]["error"]
    assert (out / "rounds" / "round_0" / "weights.pt").exists()
    assert not (out / "rounds" / "round_1" / "metrics.json").exists()


def test_nan_loss_in_a_fresh_run_records_status_failed(make_cfg, tmp_path):
    out = tmp_path / "nan"
    with pytest.raises(RunError, match="loss became"):
        run(make_cfg("rounds=2", "train.optimizer=sgd", "train.lr=1e30", out=out))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "failed" and "loss became" in summary["error"] and summary["rounds"] == []
