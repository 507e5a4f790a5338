"""The per-round measures (measures.py) on hand-made weights and curves with known answers."""

import math

import pytest
import torch
from torch import nn

from rlth_runner.analysis import measures
from rlth_runner.lottery.pruning import masks


def two_layers():
    net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[3.0, 0.0], [0.0, 4.0]]))
        net[1].weight.copy_(torch.tensor([[1.0, 1.0]]))
    masks.attach(net, ["Linear"])
    return net


def test_relative_distance_over_the_kept_weights():
    net = two_layers()
    start = measures.kept_weights(net)
    assert measures.relative_distance(net, start) == 0
    with torch.no_grad():
        net[0].weight.add_(torch.tensor([[0.0, 0.0], [0.0, 3.0]]))  # moved by 3; the reference's norm is sqrt(9+16+1+1)
    assert measures.relative_distance(net, start) == pytest.approx(3 / math.sqrt(27))
    getattr(net[0], masks.MASK)[1, 1] = 0  # pruned: neither its move nor its reference counts
    assert measures.relative_distance(net, start) == pytest.approx(0.0)
    assert measures.relative_distance(net, {**start, "1": torch.zeros(1, 3)}) == 0  # another shape (a grown layer): left out
    assert measures.relative_distance(net, {}) is None


def test_steps_to_99_is_the_first_step_within_one_percent_of_the_best():
    curve = [(10, 0.50), (20, 0.90), (30, 0.986), (40, 0.995), (50, 0.97)]
    assert measures.steps_to_fraction(curve) == 30  # 0.986 >= 0.99 * 0.995 = 0.98505
    assert measures.steps_to_fraction([(5, 0.2), (1, 0.1)], fraction=1.0) == 5
    assert measures.steps_to_fraction([]) is None


def test_untrained_accuracy_is_the_accuracy_of_the_weights_as_they_are():
    net = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        net.weight.copy_(torch.eye(2))  # predicts the larger coordinate
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0], [0.0, 3.0]])
    y = torch.tensor([0, 1, 1, 1])  # the third is wrong
    assert measures.untrained_accuracy(net, [(x, y)]) == 0.75 and net.training


def test_a_run_records_the_measures(make_cfg):
    from rlth_runner.run.runner import run

    rounds = run(make_cfg("rounds=2", "policy=reset", "train.eval_every_n_steps=2"))["summary"]["rounds"]
    for r in rounds:
        assert 0 < r["dist_from_start"] and 0 <= r["supermask_acc"] <= 1
        assert r["steps_to_99"] in range(0, 9, 2)  # a step of the evaluation grid, which starts at step 0
    assert rounds[0]["dist_from_start"] == rounds[0]["dist_from_init"]  # round 0 starts at initialisation
    assert rounds[1]["dist_from_start"] == pytest.approx(rounds[1]["dist_from_init"])  # reset: round 1 starts there too


def test_the_summary_run_plots_the_measures_and_holds_the_table(make_cfg, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.text import plugin_data_pb2  # noqa: F401 - the text plugin is installed

    from rlth_runner.run.runner import run

    out = tmp_path / "run"
    summary = run(make_cfg("rounds=2", out=out))["summary"]
    assert summary["rounds"][0]["early_stop_step"] is None  # eval_every_n_steps: auto, and this is no sweep
    acc = EventAccumulator(str(out / "tensorboard" / "summary"), size_guidance={"tensors": 0})
    acc.Reload()
    for key in ("steps_to_99", "dist_from_start", "dist_from_init", "supermask_acc"):
        points = acc.Scalars(f"rounds/{key}")
        assert [p.step for p in points] == [0, 1]
        assert [p.value for p in points] == pytest.approx([r[key] for r in summary["rounds"]])
    (text,) = acc.Tensors("rounds/table/text_summary")
    table = text.tensor_proto.string_val[0].decode()
    assert "weights left %" in table and table.count("\n") >= 4


def test_the_hparams_row_holds_the_settings_and_every_final_measure(make_cfg, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    from rlth_runner.run.hparams import METRICS
    from rlth_runner.run.runner import run

    out = tmp_path / "run"
    last = run(make_cfg("rounds=2", "train.eval_every_n_steps=4", "analysis.instability.enabled=true",
                        "analysis.instability.points=3", out=out))["summary"]["rounds"][-1]
    acc = EventAccumulator(str(out / "tensorboard" / "hparams"))
    acc.Reload()
    start = plugin_data_pb2.HParamsPluginData.FromString(acc.PluginTagToContent("hparams")["_hparams_/session_start_info"])
    settings = {k: getattr(v, v.WhichOneof("kind")) for k, v in start.session_start_info.hparams.items()}
    assert settings["policy"] == "reset" and settings["rounds"] == 2 and settings["pruner.sparsity"] == pytest.approx(0.2)
    final = {tag: acc.Scalars(tag)[-1] for tag in acc.Tags()["scalars"]}
    expected = {m for m in METRICS if last[m] is not None}
    assert {"early_stop_step", "steps_to_99", "dist_from_init", "supermask_acc", "instability_barrier"} <= expected
    assert set(final) == {f"final/{m}" for m in expected}
    for m in expected:
        assert final[f"final/{m}"].value == pytest.approx(last[m], rel=1e-6) and final[f"final/{m}"].step == 1
