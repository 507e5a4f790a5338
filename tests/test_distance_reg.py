"""train.distance_reg, the learning-distance regulariser of "Pruning Close to Home": the term's value
and gradient, its effect on the measured learning distance, and that it changes
nothing of the block size or of a resume mid-round."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from conftest import Killed, all_scalars, kill_after_checkpoint
from rlth_runner.config import ConfigError, validate
from rlth_runner.lottery.pruning import masks
from rlth_runner.run.runner import run
from rlth_runner.training.regularisers import DistanceToStart, distance_to_start
from test_lr_schedules import records, same, weights


def masked_net() -> nn.Module:
    net = nn.Sequential(nn.Linear(3, 2, bias=False), nn.ReLU(), nn.Linear(2, 1, bias=False))
    masks.attach(net, ["Linear"])
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
        net[0].weight_mask.copy_(torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]]))
        net[2].weight.copy_(torch.tensor([[0.5, -0.5]]))
    return net


def test_the_term_is_lambda_times_the_squared_distance_of_the_kept_weights():
    net = masked_net()
    term = DistanceToStart(net, 0.5)
    assert term().item() == 0.0
    with torch.no_grad():
        net[0].weight += torch.tensor([[1.0, 10.0, -2.0], [0.0, 3.0, 7.0]])  # the 10 and the 7 move pruned weights
        net[2].weight += torch.tensor([[0.0, 2.0]])
    # kept moves: 1, -2, 0, 3 in the first layer, 0 and 2 in the second
    assert term().item() == pytest.approx(0.5 * (1 + 4 + 0 + 9 + 0 + 4))
    term().backward()
    grad = net[0].weight.grad
    assert torch.equal(grad, 2 * 0.5 * torch.tensor([[1.0, 0.0, -2.0], [0.0, 3.0, 0.0]]))  # none on a pruned weight
    assert distance_to_start(net, 0.0) is None  # off: the loss is exactly the data loss, as before the option existed


def test_the_term_keeps_the_starting_weights_when_the_layers_train():
    net = masked_net()
    term = DistanceToStart(net, 1.0)
    start = net[0].weight.detach() * net[0].weight_mask
    with torch.no_grad():
        net[0].weight.mul_(3)
    assert torch.equal(term.start_0, start)
    assert "start_0" in term.state_dict()  # so a round's checkpoint holds the round's start


SHORT = ("rounds=2", "train.max_steps=20", "train.epochs=1")


def test_the_term_shortens_the_measured_learning_distance(make_cfg, tmp_path):
    outs = {}
    for strength in (0, 10):
        outs[strength] = tmp_path / f"reg_{strength}"
        run(make_cfg(*SHORT, f"train.distance_reg={strength}", out=outs[strength]))
    off, on = records(outs[0]), records(outs[10])
    for a, b in zip(off, on):
        assert b["dist_from_start"] < 0.6 * a["dist_from_start"], (a["round"], a["dist_from_start"], b["dist_from_start"])
    assert on[1]["density"] == off[1]["density"] == pytest.approx(0.8, abs=0.01)  # round 1 is pruned in both


def test_the_term_is_logged_at_the_step_cadence_and_the_block_size_changes_nothing(make_cfg, tmp_path):
    outs = {}
    for block in (1, 50):
        outs[block] = tmp_path / f"block_{block}"
        run(make_cfg(*SHORT, "train.distance_reg=10", f"train.steps_per_block={block}", out=outs[block]))
    assert records(outs[1]) == records(outs[50])
    assert all(same(weights(outs[1], k), weights(outs[50], k)) for k in (0, 1))
    logged = all_scalars(outs[1])
    assert logged == all_scalars(outs[50])
    for k in (0, 1):
        points = logged[f"round_{k}/train/distance_reg"]
        assert [step for step, _ in points] == list(range(2, 21, 2))  # FAST logs every 2 steps
        assert all(value > 0 for _, value in points)
    off = tmp_path / "off"
    run(make_cfg("rounds=1", out=off))
    assert not any(tag.endswith("train/distance_reg") for tag in all_scalars(off))


def test_a_round_killed_after_a_checkpoint_resumes_towards_the_rounds_start(make_cfg, tmp_path, monkeypatch):
    # Round 1 starts from the initialisation under its mask (policy=reset), far from the weights at
    # its checkpoint after epoch 1: a resumed fit that pulled towards the resume point would differ.
    args = ("rounds=2", "train.epochs=3", "train.max_steps=null", "checkpoint.min_interval_s=0", "train.distance_reg=1")
    straight, out = tmp_path / "straight", tmp_path / "run"
    run(make_cfg(*args, out=straight))

    kill_after_checkpoint(monkeypatch, "round_1")
    with pytest.raises(Killed):
        run(make_cfg(*args, out=out))
    assert (out / "rounds" / "round_1" / "checkpoint.ckpt").exists()
    monkeypatch.undo()
    run(make_cfg(*args, out=out))
    assert records(out) == records(straight)
    assert all(same(weights(out, k), weights(straight, k)) for k in (0, 1))
    assert all_scalars(out) == all_scalars(straight)  # train/distance_reg included, no point twice


@pytest.mark.parametrize("value, needle", [
    ("-0.1", "train.distance_reg=-0.1 must be a number >= 0 and finite: the weight of the learning-distance term"),
    ("inf", "train.distance_reg=inf must be a number >= 0 and finite"),
    ("abc", "train.distance_reg='abc' must be a number >= 0 and finite"),
    ("null", "train.distance_reg=None must be a number >= 0 and finite"),
])
def test_bad_values_are_one_line_naming_the_key(make_cfg, value, needle):
    with pytest.raises(ConfigError) as err:
        validate(make_cfg(f"train.distance_reg={value}"))
    assert "\n" not in str(err.value) and str(err.value).startswith(needle)
