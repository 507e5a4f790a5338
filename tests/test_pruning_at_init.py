"""Pruning at initialisation (lottery/pruning/at_init.py): SNIP, GraSP and SynFlow
scores against hand computations, exact counts, SynFlow's compounded schedule,
the network left as it was, and scoring that never reads held-out data."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch import nn

from rlth_runner.config import ConfigError
from rlth_runner.config.checks import validate
from rlth_runner.lottery.pruning import at_init, grasp, masks, snip, synflow
from rlth_runner.lottery.pruning.density_schedules import target_count
from rlth_runner.models.mlp import MLP
from rlth_runner.storage.rundir import RunDir

from conftest import FAST, rlth_run


class Train:
    """Data with a training split only: reading `val` or `test` fails the test."""

    def __init__(self, x, y, task="classification"):
        self.train, self.task, self.input_shape = (x, y), task, tuple(x.shape[1:])

    @property
    def val(self):
        raise AssertionError("scoring read the validation split")

    test = val


def pcfg(**kw):
    base = dict(name="snip", scope="layer", schedule="imp", sparsity=0.8, target_rounds=None, layer_rates=None, layer_types=["Linear"],
                include=None, exclude=None, seed=None, at_init=True, batches=3, iterations=5)
    return OmegaConf.create({**base, **kw})


def mlp(hidden_layers=1, seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    net = MLP(input_shape=(6,), num_classes=3, width=5, hidden_layers=hidden_layers).to(dtype)
    masks.attach(net, ["Linear"])
    return net


def data(n=40, seed=1, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return Train(torch.randn(n, 6, generator=g, dtype=dtype), torch.randint(0, 3, (n,), generator=g))


def scoring(net, d, batch_size=8, batches=3):
    return at_init._scoring(net, at_init.scoring_batches(d.train, batches, batch_size, 0), at_init.loss_for(d.task), d.input_shape)


def test_snip_scores_are_gradient_times_weight_of_a_hand_computed_gradient():
    # One linear layer under mean squared error: dL/dW = 2 (W x - y) x^T / (batch * outputs), averaged over batches.
    torch.manual_seed(0)
    net = nn.Sequential()
    net.add_module("output", nn.Linear(4, 2, bias=False))
    masks.attach(net, ["Linear"])
    x, y = torch.randn(12, 4), torch.randn(12, 2)
    s = at_init._scoring(net, [(x[:6], y[:6]), (x[6:], y[6:])], F.mse_loss, (4,))
    w = net.output.weight.detach()
    grad = sum(2 * (xb @ w.T - yb).T @ xb / (6 * 2) for xb, yb in ((x[:6], y[:6]), (x[6:], y[6:]))) / 2
    torch.testing.assert_close(snip.scores(s)["output"], (grad * w).abs())


def test_grasp_hessian_gradient_product_matches_finite_differences_and_scores_w_hg():
    net, d = mlp(dtype=torch.float64), data(dtype=torch.float64)
    s = scoring(net, d)
    hg = grasp.hessian_gradient(s)
    g = [t.detach() for t in s.gradient()]
    weights = [layer.weight for layer in s.layers.values()]
    eps = 1e-5

    def grad_at(sign):
        with torch.no_grad():
            for w, v in zip(weights, g):
                w.add_(sign * eps * v)
        out = [t.detach() for t in s.gradient()]
        with torch.no_grad():
            for w, v in zip(weights, g):
                w.sub_(sign * eps * v)
        return out

    plus, minus = grad_at(1), grad_at(-1)
    for h, p, m in zip(hg, plus, minus):
        torch.testing.assert_close(h, (p - m) / (2 * eps), rtol=1e-5, atol=1e-8)
    found = grasp.scores(s)
    for (name, layer), h in zip(s.layers.items(), hg):
        # Keep score = -S(-w) of Wang et al.'s Eq. 8: the highest S(-w) = -w * Hg is removed first.
        torch.testing.assert_close(found[name], layer.weight.detach() * h)


def test_synflow_score_of_a_two_layer_net_has_its_closed_form():
    net = mlp(hidden_layers=0)  # input (5x6) -> output (3x5), with biases that SynFlow ignores
    s = scoring(net, data())
    w1, w2 = net.input.weight.detach().abs(), net.output.weight.detach().abs()
    found = synflow.scores(s)
    # R = 1^T |W2| |W1| 1: dR/dW1_ij = sum_k |W2_ki|, dR/dW2_ki = sum_j |W1_ij|.
    torch.testing.assert_close(found["input"], w1 * w2.sum(0)[:, None])
    torch.testing.assert_close(found["output"], w2 * w1.sum(1)[None, :])


@pytest.mark.parametrize("name", ["snip", "grasp", "synflow", "magnitude", "random"])
@pytest.mark.parametrize("scope", ["layer", "global"])
def test_kept_counts_are_exact(name, scope):
    net, d = mlp(), data()
    removed = at_init.prune_at_init(net, pcfg(name=name, scope=scope, layer_rates={"output": 0.5}), d, 8, 0, 0)
    counts = masks.counts(net)
    assert counts["output"][0] == target_count(counts["output"][1], 0.5)
    rest = [c for n, c in counts.items() if n != "output"]
    if scope == "layer":
        assert all(kept == target_count(total, 0.2) for kept, total in rest)
    else:
        assert sum(k for k, _ in rest) == target_count(sum(t for _, t in rest), 0.2)
    assert sum(removed.values()) == sum(t - k for k, t in counts.values())


def test_snip_keeps_the_largest_gradient_times_weight():
    net, d = mlp(), data()
    expected = snip.scores(scoring(net, d, batches=10))  # the defaults prune_at_init scores on: 10 batches of 8
    at_init.prune_at_init(net, pcfg(batches=10), d, 8, 0, 0)
    for name, mask in masks.get(net).items():
        assert expected[name][mask].min() >= expected[name][~mask].max()


@pytest.mark.parametrize("scope", ["layer", "global"])
def test_synflow_iterations_follow_the_compounded_schedule(scope):
    net, d, n = mlp(hidden_layers=2), data(), 5
    totals = {name: t for name, (_, t) in masks.counts(net).items()}
    previous = masks.get(net)
    for i, _ in enumerate(at_init.steps(net, pcfg(name="synflow", scope=scope, iterations=n), d, 8, 0, 0), start=1):
        counts, now = masks.counts(net), masks.get(net)
        if scope == "layer":
            assert all(counts[name][0] == target_count(t, 0.2 ** (i / n)) for name, t in totals.items())
        else:
            assert sum(k for k, _ in counts.values()) == target_count(sum(totals.values()), 0.2 ** (i / n))
        assert all(not (now[name] & ~previous[name]).any() for name in now), "nested: a pruned weight never returns"
        previous = now
    assert i == n


def test_scoring_leaves_the_network_and_its_batch_norm_statistics_as_they_were():
    torch.manual_seed(0)
    net = nn.Sequential()
    net.add_module("input", nn.Linear(6, 5))
    net.add_module("norm", nn.BatchNorm1d(5))
    net.add_module("output", nn.Linear(5, 3))
    net.norm.running_mean.fill_(0.3)
    masks.attach(net, ["Linear"])
    before = {k: v.clone() for k, v in net.state_dict().items()}
    for name in ("snip", "grasp", "synflow"):
        at_init.prune_at_init(net, pcfg(name=name), data(), 8, 0, 0)
        for key, value in net.state_dict().items():
            if key.endswith(masks.MASK):
                continue
            mask = net.state_dict().get(key.replace("weight", masks.MASK)) if key.endswith("weight") else None
            torch.testing.assert_close(value, before[key] * mask if mask is not None else before[key])
        assert net.training


def test_scoring_batches_are_seeded_training_examples():
    d = data(n=100)
    one, two = (at_init.scoring_batches(d.train, 3, 8, seed) for seed in (0, 0))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(one, two))
    other = at_init.scoring_batches(d.train, 3, 8, 1)
    assert not torch.equal(one[0][0], other[0][0])
    assert [len(x) for x, _ in one] == [8, 8, 8]
    rows = {tuple(r.tolist()) for x, _ in one for r in x}
    assert len(rows) == 24 and rows <= {tuple(r.tolist()) for r in d.train[0]}


def test_a_network_pruner_needs_at_init(make_cfg):
    with pytest.raises(ConfigError, match=r"^pruner=grasp scores the network at initialisation only: keep pruner.at_init=true$"):
        validate(make_cfg("pruner=grasp", "pruner.at_init=false"))
    validate(make_cfg("pruner=magnitude", "pruner.at_init=true"))


def test_snip_run_prunes_round_zero_to_the_exact_count_from_an_untouched_init(tmp_path):
    out = tmp_path / "run"
    rlth_run("pruner=snip", "pruner.sparsity=0.9", "rounds=1", *FAST, f"paths.output_dir={out}", cwd=tmp_path)
    run = RunDir(out)
    init, mask = run.load_init(), run.load_masks(0)
    for name, m in mask.items():
        assert int(m.sum()) == target_count(m.numel(), 0.1)
        assert bool(init[f"{name}.{masks.MASK}"].all()), "init.pt holds the dense initialisation"
        assert int(init[f"{name}.weight"].count_nonzero()) == m.numel()
