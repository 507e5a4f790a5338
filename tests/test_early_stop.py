"""The early-stop iteration: lowest validation loss among evaluations every N steps."""

import json

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rlth_runner.run.runner import run


def test_early_stop_step_is_the_lowest_validation_loss(make_cfg, tmp_path):
    out = tmp_path / "run"
    run(make_cfg("rounds=1", "train.eval_every_n_steps=2", out=out))
    r = json.loads((out / "summary.json").read_text())["rounds"][0]
    acc = EventAccumulator(str(out / "tensorboard" / "round_0"))
    acc.Reload()
    losses = {e.step: e.value for e in acc.Scalars("early_stop/val_loss")}
    assert sorted(losses) == [0, 2, 4, 6, 8]  # step 0: the round's starting weights
    best = min(losses, key=losses.get)
    assert r["early_stop_step"] == best
    assert abs(r["early_stop_val_loss"] - losses[best]) < 1e-5
    assert 0 <= r["early_stop_test_acc"] <= 1


def test_auto_grid_is_on_in_sweeps_only():
    from rlth_runner.training.early_stop import GRID_POINTS, grid_every

    assert grid_every("auto", 1000, in_sweep=False) is None
    assert grid_every("auto", 1000, in_sweep=True) == 1000 // GRID_POINTS
    assert grid_every("auto", 7, in_sweep=True) == 1  # never 0
    assert grid_every("auto", 2150, in_sweep=True) == 108  # ceil: at most GRID_POINTS points after step 0
    assert grid_every(30, 1000, in_sweep=False) == 30 and grid_every(None, 1000, in_sweep=True) is None
