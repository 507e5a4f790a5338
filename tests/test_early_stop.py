"""The early-stop iteration: lowest validation loss among evaluations every N steps."""

import json

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rlth_runner.runner import run


def test_early_stop_step_is_the_lowest_validation_loss(make_cfg, tmp_path):
    out = tmp_path / "run"
    run(make_cfg("rounds=1", "train.eval_every_n_steps=2", out=out))
    r = json.loads((out / "summary.json").read_text())["rounds"][0]
    acc = EventAccumulator(str(out / "tensorboard" / "round_0"))
    acc.Reload()
    losses = {e.step: e.value for e in acc.Scalars("early_stop/val_loss")}
    assert sorted(losses) == [2, 4, 6, 8]
    best = min(losses, key=losses.get)
    assert r["early_stop_step"] == best
    assert abs(r["early_stop_val_loss"] - losses[best]) < 1e-5
    assert 0 <= r["early_stop_test_acc"] <= 1
