"""Linear mode connectivity (instability.py) on a constructed pair of networks
whose error along the path is known."""

import pytest
import torch
from torch import nn

from rlth_runner.analysis import instability


def relu_net(first: list[float], second: list[list[float]]) -> nn.Module:
    net = nn.Sequential(nn.Linear(1, 2, bias=False), nn.ReLU(), nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor(first).unsqueeze(1))
        net[2].weight.copy_(torch.tensor(second))
    return net


# Class 0 for x > 0, class 1 for x < 0, computed by two hidden units; `b` is `a` with its
# hidden units swapped: the same function, so both ends have no error. Along the line the
# weights are (2 alpha - 1) times a's, which still classifies every example, except at
# alpha = 0.5, where every weight is 0, the logits tie, argmax says class 0, and the x < 0
# half of the data (class 1) is wrong: error 0.5 there and 0 elsewhere.
A = relu_net([1.0, -1.0], [[1.0, -1.0], [-1.0, 1.0]])
B = relu_net([-1.0, 1.0], [[-1.0, 1.0], [1.0, -1.0]])
X = torch.tensor([[1.0], [2.0], [-1.0], [-3.0]])
Y = torch.tensor([0, 0, 1, 1])


def test_the_path_between_two_permuted_copies_has_a_barrier_of_one_half():
    path = instability.error_path(A, A.state_dict(), B.state_dict(), [(X, Y)], points=11)
    assert [alpha for alpha, _ in path] == pytest.approx([i / 10 for i in range(11)])
    assert [error for _, error in path] == [0.0] * 5 + [0.5] + [0.0] * 5
    assert instability.barrier(path) == 0.5


def test_a_network_is_stable_with_itself_and_is_left_as_it_was():
    before = {k: v.clone() for k, v in A.state_dict().items()}
    A.train()
    path = instability.error_path(A, A.state_dict(), A.state_dict(), [(X, Y)], points=5)
    assert instability.barrier(path) == 0 and len(path) == 5
    assert all(torch.equal(v, before[k]) for k, v in A.state_dict().items()) and A.training


def test_masks_and_counters_come_from_the_first_end():
    a = {"w": torch.zeros(2), "w_mask": torch.ones(2), "weight_mask": torch.ones(2), "steps": torch.tensor(3)}
    b = {"w": torch.ones(2), "w_mask": torch.zeros(2), "weight_mask": torch.zeros(2), "steps": torch.tensor(9)}
    mid = instability.interpolate(a, b, 0.25)
    assert mid["w"].tolist() == [0.25, 0.25] and mid["weight_mask"].tolist() == [1, 1] and int(mid["steps"]) == 3
    with pytest.raises(ValueError, match="both ends"):
        instability.error_path(A, A.state_dict(), B.state_dict(), [(X, Y)], points=1)


def test_a_run_records_each_analysed_rounds_path_and_changes_nothing_else(make_cfg, tmp_path):
    import json

    from rlth_runner.run.runner import run
    from rlth_runner.storage.files import load_tensors
    from rlth_runner.storage.rundir import RunDir

    plain, analysed = tmp_path / "plain", tmp_path / "analysed"
    common = ("rounds=3", "policy=reset", "pruner.sparsity=0.5")
    run(make_cfg(*common, out=plain))
    summary = run(make_cfg(*common, "analysis.instability.enabled=true", "analysis.instability.rounds=[0,2]",
                           "analysis.instability.points=5", out=analysed))["summary"]

    rounds = summary["rounds"]
    assert RunDir(analysed).load_instability(1) is None and rounds[1]["instability_barrier"] is None
    for k in (0, 2):
        path = RunDir(analysed).load_instability(k)
        assert path["round"] == k and path["metric"] == "test_error"
        assert [alpha for alpha, _ in path["points"]] == [0, 0.25, 0.5, 0.75, 1]
        errors = [error for _, error in path["points"]]
        # alpha = 0 is the round's own trained network: its error is the round's test error
        assert errors[0] == pytest.approx(1 - rounds[k]["test_acc"], abs=1e-6)
        assert path["barrier"] == pytest.approx(max(errors) - (errors[0] + errors[-1]) / 2)
        assert rounds[k]["instability_barrier"] == path["barrier"]
        assert (analysed / "instability" / "tensorboard" / f"round_{k}").is_dir()  # the second copy's curves, apart
    assert sorted(p.name for p in (analysed / "tensorboard").iterdir()) == ["hparams", "round_0", "round_1", "round_2", "summary"]

    # The analysis trains a copy on the side: the rounds themselves are those of a run without it.
    before = json.loads((plain / "summary.json").read_text())["rounds"]
    for a, b in zip(before, rounds):
        assert (a["test_acc"], a["val_acc"], a["params_nonzero"]) == (b["test_acc"], b["val_acc"], b["params_nonzero"])
    for k in range(3):
        ours, theirs = (load_tensors(d / "rounds" / f"round_{k}" / "weights.pt") for d in (analysed, plain))
        assert all(torch.equal(ours[key], theirs[key]) for key in theirs)


@pytest.mark.parametrize("override, start", [
    ("analysis.instability.rounds=3", "analysis.instability.rounds=3 must be a list of round indices"),
    ("analysis.instability.rounds=[-1]", "analysis.instability.rounds=[-1] must be a list of round indices"),
    ("analysis.instability.points=1", "analysis.instability.points=1 must be an integer >= 2"),
    ("analysis.instability.enabled=maybe", "analysis.instability.enabled='maybe' must be true or false"),
])
def test_bad_analysis_settings_are_one_line(make_cfg, override, start):
    from rlth_runner.config import ConfigError, validate

    with pytest.raises(ConfigError) as err:
        validate(make_cfg(override))
    assert str(err.value).startswith(start), err.value


def test_instability_needs_classification_data(make_cfg):
    from rlth_runner.config import ConfigError
    from rlth_runner.run.runner import run

    with pytest.raises(ConfigError, match="needs classification data: dataset=teacher is regression"):
        run(make_cfg("dataset=teacher", "analysis.instability.enabled=true"))
