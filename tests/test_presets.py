"""Every experiment preset runs end to end at a tiny budget, on small MNIST and
CIFAR-10 files in their real on-disk formats read by the real loaders (downloads
made impossible), with the preset's own settings otherwise untouched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from rlth_runner.config import validate
from rlth_runner.entry.conf import CONFIG_DIR
from rlth_runner.lottery import growth
from rlth_runner.lottery.pruning import masks
from rlth_runner.run import checkpoints
from rlth_runner.run.runner import run

from test_data import offline  # noqa: F401 (a fixture)
from test_models import data_dir  # noqa: F401 (a fixture: MNIST idx and CIFAR-10 pickles)

# Only the budget and the held-out size shrink; everything else is the preset's.
TINY = ["rounds=2", "train.epochs=1", "train.max_steps=2", "train.batch_size=4", "train.log_every_n_steps=1", "dataset.val_size=4"]


def preset_cfg(preset: str, data_dir: Path, out: Path, *extra: str):  # noqa: F811
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            f"experiment={preset}", *TINY, f"paths.data_dir={data_dir}", f"paths.output_dir={out}", *extra,
        ])
    validate(cfg)
    return cfg


def summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


@pytest.mark.parametrize("preset, dataset, model, policy", [
    ("rlth_mnist_reset", "mnist", "rlth_mlp", "reset"),
    ("rlth_mnist_grow", "mnist", "rlth_mlp", "grow"),
    ("rlth_cifar10_reset", "cifar10", "rlth_resnet", "reset"),
    ("rlth_cifar10_grow", "cifar10", "rlth_resnet", "grow"),
])
def test_rlth_presets_run_on_the_real_loaders(preset, dataset, model, policy, data_dir, tmp_path, offline):  # noqa: F811
    out = tmp_path / preset
    cfg = preset_cfg(preset, data_dir, out, "rounds=3")  # two pruned rounds: a layer grown after round 1 is pruned in round 2
    run(cfg)

    s = summary(out)
    assert (s["dataset"], s["model"], s["policy"]) == (dataset, model, policy)
    assert s["status"] == "completed" and s["stopped_by"] == "max_rounds"
    rounds = s["rounds"]
    assert [r["round"] for r in rounds] == [0, 1, 2] and all(r["train_steps"] == 2 for r in rounds)

    # grow: one more hidden layer (block) after each pruned round, all of one size; reset: the same network throughout
    start = rounds[0]["hidden_layers"]
    sizes = [r["params_total"] for r in rounds]
    if policy == "grow":
        assert [r["hidden_layers"] for r in rounds] == [start, start + 1, start + 2]
        assert sizes[2] - sizes[1] == sizes[1] - sizes[0] > 0
    else:
        assert start > 0 and [r["hidden_layers"] for r in rounds] == [start] * 3 and len(set(sizes)) == 1

    # Only the layers the preset's pruner.include names are pruned: the BasicBlock convolutions on
    # CIFAR-10 (the paper's choice), every Linear layer of the MLP.
    final = rounds[-1]["layer_density"]
    assert final, "the last round prunes something"
    if dataset == "cifar10":
        assert all(masks.matches(name, ["blocks.*"]) for name in final), final
    else:
        assert {"input", "output"} <= final.keys() and all(n in ("input", "output") or n.startswith("hidden.") for n in final)

    # Level schedule: each pruned round takes every layer that was there before its pruning to
    # 1 - sparsity (and no further); a layer grown after the pruning trains dense until the next round.
    keep = 1 - cfg.pruner.sparsity
    assert set(rounds[0]["layer_density"].values()) <= {1.0}
    for before, now in zip(rounds, rounds[1:]):
        for name, density in now["layer_density"].items():
            expected = keep if name in before["layer_density"] else 1.0
            assert density == pytest.approx(expected, abs=0.01), (now["round"], name, density)
    if policy == "reset":
        assert rounds[1]["density"] == pytest.approx(keep, abs=0.01) and rounds[2]["density"] == rounds[1]["density"]
        assert rounds[2]["params_nonzero"] == rounds[1]["params_nonzero"]
    else:  # each growth adds the same prunable layers (one Linear, or a block's two convolutions)
        grown = set(rounds[2]["layer_density"]) - set(rounds[1]["layer_density"])
        assert len(grown) == len(set(rounds[1]["layer_density"]) - set(rounds[0]["layer_density"])) > 0

    net = checkpoints.load_network(out, 2)
    assert len(growth.architecture(net)) == rounds[-1]["hidden_layers"]


def test_frankle_lenet300_runs_on_mnist_files_with_early_stop_tracking(data_dir, tmp_path, offline):  # noqa: F811
    out = tmp_path / "frankle"
    cfg = preset_cfg("frankle_lenet300", data_dir, out, "train.eval_every_n_steps=1")
    run(cfg)

    s = summary(out)
    assert s["status"] == "completed" and len(s["rounds"]) == 2
    mask = torch.load(out / "rounds" / "round_1" / "mask.pt", weights_only=True)
    removed = {name: int((m == 0).sum()) for name, m in mask.items()}
    sizes = {name: m.numel() for name, m in mask.items()}
    # 20% of each hidden layer, 10% of the output layer (Frankle & Carbin), rounded per layer.
    for name, rate in (("fc1", 0.2), ("fc2", 0.2), ("output", 0.1)):
        assert abs(removed[name] - rate * sizes[name]) <= 1, (name, removed[name], sizes[name])
    for r in s["rounds"]:  # the validation loss was evaluated every step to find the early stop
        assert 1 <= r["early_stop_step"] <= 2 and 0.0 <= r["early_stop_test_acc"] <= 1.0


def test_frankle_lenet300_sets_the_papers_values():
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=["experiment=frankle_lenet300"])
    assert (cfg.dataset.name, cfg.model.name) == ("mnist", "lenet_300_100")
    assert cfg.train.batch_size == 60 and cfg.train.lr == 1.2e-3 and cfg.train.optimizer == "adam"
    assert cfg.dataset.val_size == 5000 and cfg.train.eval_every_n_steps == 100
    assert cfg.pruner.sparsity == 0.2 and dict(cfg.pruner.layer_rates) == {"output": 0.1}
    assert cfg.pruner.schedule == "imp" and cfg.policy.name == "reset" and cfg.rounds == 21
    assert cfg.train.max_steps == 50000
