"""`pruner.schedule=gradual` (Zhu & Gupta 2017) inside a round: exact counts at
the schedule's steps, nested masks, the final sparsity at end_step, and a
resumed round that ends with the same masks."""

from __future__ import annotations

import pytest
import torch

from conftest import Killed, kill_after_checkpoint
from rlth_runner.config import ConfigError
from rlth_runner.config.checks import validate
from rlth_runner.lottery.pruning import masks
from rlth_runner.lottery.pruning.density_schedules import target_count
from rlth_runner.run.runner import run
from rlth_runner.storage.rundir import RunDir
from rlth_runner.training.gradual import GradualPruning

GRADUAL = ["pruner.schedule=gradual", "pruner.sparsity=0.8", "pruner.gradual.start_step=2", "pruner.gradual.end_step=14",
           "pruner.gradual.frequency=3", "rounds=1", "train.max_steps=null", "train.epochs=2", "train.batch_size=128",
           "'pruner.layer_rates={output: 0.5}'".strip("'")]


def formula(t, s_f, t0=2, t_end=14, power=3):
    return s_f + (0 - s_f) * (1 - (t - t0) / (t_end - t0)) ** power


@pytest.mark.parametrize("scope", ["layer", "global"])
def test_masks_at_each_pruning_step_follow_the_formula_exactly(make_cfg, monkeypatch, scope):
    seen = {}
    prune_at = GradualPruning.prune_at

    def recording(self, t, trainer, pl_module):
        prune_at(self, t, trainer, pl_module)
        seen[t] = masks.get(pl_module.net)

    monkeypatch.setattr(GradualPruning, "prune_at", recording)
    run(make_cfg(*GRADUAL, f"pruner.scope={scope}"))
    steps = [t for t in seen if t in range(2, 15, 3)]
    assert steps == [2, 5, 8, 11, 14], "a pruning event at every scheduled step, whatever the chunk size"
    previous = None
    for t in steps:
        m = seen[t]
        assert m["output"].sum() == target_count(m["output"].numel(), 1 - formula(t, 0.5))
        rest = [v for n, v in m.items() if n != "output"]
        if scope == "layer":
            assert all(int(v.sum()) == target_count(v.numel(), 1 - formula(t, 0.8)) for v in rest)
        else:
            assert sum(int(v.sum()) for v in rest) == target_count(sum(v.numel() for v in rest), 1 - formula(t, 0.8))
        if previous is not None:
            assert all(not (m[n] & ~previous[n]).any() for n in m), "nested"
        previous = m
    assert all(torch.equal(seen[max(seen)][n], seen[14][n]) for n in seen[14]), "nothing pruned after end_step"


def test_a_resumed_round_ends_with_the_same_masks(make_cfg, monkeypatch, tmp_path):
    straight = tmp_path / "straight"
    run(make_cfg(*GRADUAL, out=straight))
    resumed = tmp_path / "resumed"
    cfg = make_cfg(*GRADUAL, "checkpoint.every_n_epochs=1", "checkpoint.min_interval_s=0", out=resumed)
    kill_after_checkpoint(monkeypatch, "round_0", epoch=0)
    with pytest.raises(Killed):
        run(cfg)
    monkeypatch.undo()
    run(cfg)
    a, b = RunDir(straight).load_masks(0), RunDir(resumed).load_masks(0)
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert all(int(a[n].sum()) == target_count(a[n].numel(), 0.5 if n == "output" else 0.2) for n in a)


def test_gradual_refuses_what_it_cannot_prune(make_cfg):
    for bad in (["policy=grow"], ["pruner.at_init=true"], ["train.mode=edge_popup"]):
        with pytest.raises(ConfigError, match=r"^pruner.schedule=gradual prunes trained weights inside each round"):
            validate(make_cfg("pruner.schedule=gradual", *bad))
    with pytest.raises(ConfigError, match=r"^pruner.gradual: need"):
        validate(make_cfg("pruner.schedule=gradual", "pruner.gradual.end_step=15"))
