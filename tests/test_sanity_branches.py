"""The sanity-check branches (lottery/branches/sanity.py): shuffle_layerwise keeps
every layer's count with another mask; invert keeps, per layer, the parent's count
of the weights its pruner scored lowest, checked against the scores computed here
from the parent's saved files; both resume bit for bit; a pruner without scores
is refused in one line."""

import shutil

import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from conftest import lottery_run, rlth_run
from rlth_runner.config import ConfigError
from rlth_runner.lottery import branches
from rlth_runner.run.runner import run
from rlth_runner.storage.rundir import RunDir

IMP = ("rounds=3", "policy=reset", "pruner.sparsity=0.5", "train.max_steps=6")
SNIP = ("rounds=1", "policy=reset", "pruner=snip", "pruner.sparsity=0.8", "pruner.batches=2", "train.max_steps=6")


@pytest.fixture(scope="module")
def imp(tmp_path_factory):
    return lottery_run(tmp_path_factory.mktemp("imp") / "parent", *IMP)


@pytest.fixture(scope="module")
def snip(tmp_path_factory):
    return lottery_run(tmp_path_factory.mktemp("snip") / "parent", *SNIP)


def branch(make_cfg, parent, kind, *overrides):
    """Run a branch of `parent` in process, as `rlth-run branch=<kind> branch.from=<parent>` does."""
    args = [f"branch={kind}", f"branch.from={parent}", *overrides]
    composed = make_cfg(*args)
    out = branches.directory(parent, kind, composed.branch.seed)
    composed.paths.output_dir = str(out)
    return out, run(branches.settle(composed, args))["summary"]


def lowest(scores: torch.Tensor, alive: torch.Tensor, n: int) -> torch.Tensor:
    """The n lowest scores among `alive`, by a full sort (no ties in these float scores)."""
    flat = torch.where(alive.flatten(), scores.flatten().double(), float("inf"))
    keep = torch.zeros(flat.numel(), dtype=torch.bool)
    keep[torch.sort(flat).indices[:n]] = True
    return keep.view_as(alive)


@pytest.mark.slow  # trains a parent and a branch of it: seconds
def test_shuffle_layerwise_keeps_every_layers_count_with_another_mask(make_cfg, imp):
    out, summary = branch(make_cfg, imp, "shuffle_layerwise")
    assert [r["round"] for r in summary["rounds"]] == [1, 2]
    mine, theirs = RunDir(out), RunDir(imp)
    for k in (1, 2):
        ours, its = mine.load_masks(k), theirs.load_masks(k)
        assert ours.keys() == its.keys()
        for name in its:
            assert int(ours[name].sum()) == int(its[name].sum())  # the parent's count in this layer, to the weight
            assert not torch.equal(ours[name], its[name])
        assert summary["rounds"][k - 1]["density"] == theirs.load_record(k).density


@pytest.mark.slow  # trains a parent and a branch of it: seconds
def test_invert_keeps_the_lowest_magnitudes_among_the_previous_rounds_weights(make_cfg, imp):
    out, _ = branch(make_cfg, imp, "invert")
    mine, theirs = RunDir(out), RunDir(imp)
    for k in (1, 2):
        trained, before, after = theirs.load_weights(k - 1), theirs.load_masks(k - 1), theirs.load_masks(k)
        ours = mine.load_masks(k)
        for name in after:
            n = int(after[name].sum())
            scores, alive = trained[f"{name}.weight"].abs(), before[name].bool()
            assert torch.equal(ours[name].bool(), lowest(scores, alive, n)), (k, name)
            # The complement ranking: every kept weight scores below every surviving weight left out.
            dropped = alive & ~ours[name].bool()
            assert scores[ours[name].bool()].max() < scores[dropped].min()
            # Half of each layer goes each round: the inversion is the rest of round k-1's mask.
            assert not (ours[name].bool() & after[name].bool()).any()


def test_invert_of_snip_keeps_the_lowest_gradient_times_weight(make_cfg, snip):
    from rlth_runner.data import load_dataset
    from rlth_runner.lottery.policies.base import load_weights
    from rlth_runner.lottery.pruning import at_init, masks, pruners
    from rlth_runner.models.build import build_model

    out, summary = branch(make_cfg, snip, "invert", "branch.rounds=[0]")
    assert [r["round"] for r in summary["rounds"]] == [0]
    cfg = OmegaConf.load(snip / ".hydra" / "config.yaml")
    data = load_dataset(cfg.dataset, cfg.paths.data_dir, cfg.hardware)
    net = build_model(cfg.model, data)
    pruners.attach_masks(net, cfg.pruner)
    load_weights(net, RunDir(snip).load_init())
    net.eval()
    layers = masks.masked_layers(net)
    batches = at_init.scoring_batches(data.train, 2, cfg.train.batch_size, cfg.seed)
    assert len(batches) == 2
    grads = {name: torch.zeros_like(layer.weight) for name, layer in layers.items()}
    for x, y in batches:  # Lee et al.: |dL/dw * w|, L the mean training loss over the batches
        g = torch.autograd.grad(F.cross_entropy(net(x), y), [layer.weight for layer in layers.values()])
        grads = {name: grads[name] + gi / len(batches) for name, gi in zip(layers, g)}
    parent_masks, ours = RunDir(snip).load_masks(0), RunDir(out).load_masks(0)
    for name, layer in layers.items():
        scores = (grads[name] * layer.weight).abs().detach()
        n = int(parent_masks[name].sum())
        assert n == round(0.2 * layer.weight.numel())
        assert torch.equal(ours[name].bool(), lowest(scores, torch.ones_like(scores, dtype=torch.bool), n)), name
        assert scores[ours[name].bool()].max() <= scores[~ours[name].bool()].min()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["shuffle_layerwise", "invert"])
def test_a_sanity_branch_interrupted_between_rounds_equals_one_run_straight(make_cfg, imp, kind):
    straight_dir, straight = branch(make_cfg, imp, kind, "branch.seed=5")
    saved = {k: (RunDir(straight_dir).load_weights(k), RunDir(straight_dir).load_masks(k)) for k in (1, 2)}
    for d in straight_dir.iterdir():
        if d.name != ".hydra":
            d.unlink() if d.is_file() else shutil.rmtree(d)
    branch(make_cfg, imp, kind, "branch.seed=5", "branch.rounds=[1]")  # stopped after round 1
    _, resumed = branch(make_cfg, imp, kind, "branch.seed=5")
    assert [r["test_acc"] for r in resumed["rounds"]] == [r["test_acc"] for r in straight["rounds"]]
    for k, (weights, masks) in saved.items():
        again, again_masks = RunDir(straight_dir).load_weights(k), RunDir(straight_dir).load_masks(k)
        assert all(torch.equal(weights[key], again[key]) for key in weights)
        assert all(torch.equal(masks[key], again_masks[key]) for key in masks)


@pytest.mark.slow  # trains a parent and a branch of it: seconds
def test_invert_refuses_a_pruner_without_scores(make_cfg, tmp_path):
    parent = lottery_run(tmp_path / "random", "rounds=2", "policy=reset", "pruner=random", "train.max_steps=2")
    args = ["branch=invert", f"branch.from={parent}"]
    with pytest.raises(ConfigError, match=r"^branch=invert: pruner=random \(of .*\) ranks weights by no score, so there is nothing to invert$"):
        branches.settle(make_cfg(*args), args)
    proc = rlth_run(*args, "hardware.num_threads=1", cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"rlth-run: error: branch=invert: pruner=random (of {parent}) ranks weights by no score, "
                                                "so there is nothing to invert"]
    assert not (parent / "branches").exists()
