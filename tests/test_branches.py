"""Branches (rlth_runner/branches/): controls trained off a lottery run's rounds,
with exactly its masks (reinit, retrain) or its per-layer counts in nested
random masks (random_prune), living in and resuming under the parent."""

import json

import pytest
import torch
from omegaconf import OmegaConf

from conftest import lottery_run
from rlth_runner.config import ConfigError
from rlth_runner.lottery import branches
from rlth_runner.lottery.branches import kinds
from rlth_runner.run.runner import run
from rlth_runner.storage.rundir import RunDir

PARENT = ("rounds=4", "policy=reset", "pruner.sparsity=0.5", "train.max_steps=6")


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    """A finished lottery run with the config copy Hydra would have saved."""
    return lottery_run(tmp_path_factory.mktemp("lottery") / "parent", *PARENT)


def branch(make_cfg, parent, kind, *overrides):
    """Run a branch of `parent` in process, as `rlth-run branch=<kind> branch.from=<parent>` does."""
    args = [f"branch={kind}", f"branch.from={parent}", *overrides]
    composed = make_cfg(*args)
    out = branches.directory(parent, kind, composed.branch.seed)  # what hydra.run.dir resolves to
    composed.paths.output_dir = str(out)
    cfg = branches.settle(composed, args)
    return out, run(cfg)["summary"]


@pytest.mark.parametrize("kind", ["reinit", "retrain"])
def test_reinit_and_retrain_train_exactly_the_parents_masks(make_cfg, parent, kind):
    out, summary = branch(make_cfg, parent, kind)
    assert out == parent.absolute() / "branches" / kind
    assert [r["round"] for r in summary["rounds"]] == [1, 2, 3]  # every pruned round the parent finished
    assert summary["branch"] == {"kind": kind, "from": str(parent), "seed": None} and summary["policy"] == "reset"
    mine, theirs = RunDir(out), RunDir(parent)
    for k in (1, 2, 3):
        ours, its = mine.load_masks(k), theirs.load_masks(k)
        assert ours.keys() == its.keys() and all(torch.equal(ours[name], its[name]) for name in its)
        assert summary["rounds"][k - 1]["density"] == theirs.load_record(k).density


def test_random_prune_keeps_each_layers_count_with_nested_random_masks(make_cfg, parent):
    out, _ = branch(make_cfg, parent, "random_prune")
    mine, theirs = RunDir(out), RunDir(parent)
    previous = None
    for k in (1, 2, 3):
        ours, its = mine.load_masks(k), theirs.load_masks(k)
        for name in its:
            assert int(ours[name].sum()) == int(its[name].sum())  # the parent's per-layer density, to the weight
            assert not torch.equal(ours[name], its[name])  # but not its mask
            if previous is not None:
                assert not (ours[name] & ~previous[name]).any()  # nested: round k keeps only what round k-1 kept
        previous = ours


def test_each_kind_starts_from_the_values_it_should(make_cfg, parent):
    from rlth_runner import seeds
    from rlth_runner.data import load_dataset
    from rlth_runner.models.build import build_model
    from rlth_runner.lottery.pruning import masks, pruners

    cfg = OmegaConf.load(parent / ".hydra" / "config.yaml")
    data = load_dataset(cfg.dataset, cfg.paths.data_dir, cfg.hardware)
    net = build_model(cfg.model, data)
    pruners.attach_masks(net, cfg.pruner)
    init = RunDir(parent).load_init()
    kept = lambda state: {n: state[f"{n}.weight"] * state[f"{n}.weight_mask"] for n in masks.masked_layers(net)}  # noqa: E731
    started = {}
    for kind in ("reinit", "retrain", "random_prune"):
        branch_cfg = OmegaConf.create({"kind": kind, "seed": None})
        k = kinds.build(branch_cfg, RunDir(parent), "init", cfg.seed, lambda: build_model(cfg.model, data), cfg.pruner)
        k.start(net, 2)
        started[kind] = {name: tensor.clone() for name, tensor in kept(net.state_dict()).items()}
        for name, layer in masks.masked_layers(net).items():  # the parent's init under the branch's mask, or not
            same = torch.equal(started[kind][name], init[f"{name}.weight"] * layer.weight_mask)
            assert same == (kind != "reinit"), (kind, name)
        assert k.batch_seed(2) == (seeds.derive(cfg.seed, "train", 2) if kind != "retrain" else seeds.derive(cfg.seed, "retrain", 2))


def test_a_branch_resumes_and_equals_one_run_straight(make_cfg, parent, tmp_path):
    straight_dir, straight = branch(make_cfg, parent, "reinit", "branch.seed=7")
    saved = {k: RunDir(straight_dir).load_weights(k) for k in (1, 2, 3)}
    # Again in the same directory, in two steps: round 2 first, then the rest; done rounds are skipped.
    for d in straight_dir.iterdir():
        if d.name != ".hydra":
            (d.unlink() if d.is_file() else __import__("shutil").rmtree(d))
    branch(make_cfg, parent, "reinit", "branch.seed=7", "branch.rounds=[2]")
    assert json.loads((straight_dir / "summary.json").read_text())["rounds"][0]["round"] == 2
    resumed_dir, resumed = branch(make_cfg, parent, "reinit", "branch.seed=7")
    assert resumed_dir == parent.absolute() / "branches" / "reinit_seed=7"
    assert [r["test_acc"] for r in resumed["rounds"]] == [r["test_acc"] for r in straight["rounds"]]
    for k, state in saved.items():
        again = RunDir(resumed_dir).load_weights(k)
        assert all(torch.equal(state[key], again[key]) for key in state)


def test_a_branch_takes_only_settings_that_change_no_result(make_cfg, parent):
    args = ["branch=reinit", f"branch.from={parent}", "train.lr=0.5"]
    with pytest.raises(ConfigError, match=r"^train\.lr: a branch trains with its parent's settings"):
        branches.settle(make_cfg(*args), args)
    args = ["branch=reinit", f"branch.from={parent}", "hardware.num_threads=1", "analysis.instability.enabled=true"]
    settled = branches.settle(make_cfg(*args), args)
    assert settled.hardware.num_threads == 1 and settled.analysis.instability.enabled and settled.train.max_steps == 6


@pytest.mark.parametrize("override, message", [
    ("branch.rounds=[4]", r"branch\.rounds=\[4\]: the parent has no finished round 4 \(its rounds 0-3 are done\)"),
    ("branch.kind=bogus", r"branch\.kind='bogus' is not one of: reinit, random_prune, retrain, shuffle_layerwise, invert"),
])
def test_bad_branch_settings_are_one_line(make_cfg, parent, override, message):
    args = ["branch=reinit", f"branch.from={parent}", override]
    with pytest.raises(ConfigError, match=message):
        branches.settle(make_cfg(*args), args)


def test_only_runs_whose_rounds_start_from_fixed_weights_can_be_branched(make_cfg, tmp_path):
    other = tmp_path / "finetuned"
    cfg = make_cfg("rounds=2", "policy=finetune", out=other)
    run(cfg)
    (other / ".hydra").mkdir()
    OmegaConf.save(cfg, other / ".hydra" / "config.yaml")
    args = ["branch=retrain", f"branch.from={other}"]
    with pytest.raises(ConfigError, match="was made with policy=finetune; branches need a parent whose rounds start from fixed weights"):
        branches.settle(make_cfg(*args), args)
    args = ["branch=retrain", f"branch.from={tmp_path / 'nothing'}"]
    with pytest.raises(ConfigError, match="no run there"):
        branches.settle(make_cfg(*args), args)


def test_a_parent_made_before_newer_keys_existed_gets_their_defaults(make_cfg, parent, tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    (old / ".hydra").mkdir()
    for name in ("init.pt", "rounds"):
        (old / name).symlink_to(parent / name)
    cfg = OmegaConf.load(parent / ".hydra" / "config.yaml")
    for key in ("branch", "analysis"):  # as an older version saved it
        cfg.pop(key)
    OmegaConf.save(cfg, old / ".hydra" / "config.yaml")
    args = ["branch=random_prune", f"branch.from={old}"]
    settled = branches.settle(make_cfg(*args), args)
    assert settled.branch.kind == "random_prune" and settled.analysis.instability.enabled is False
    assert settled.dataset == cfg.dataset and settled.train.max_steps == 6
