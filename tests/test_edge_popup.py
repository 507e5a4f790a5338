"""train.mode=edge_popup (training/edge_popup.py): only the scores train, the
subnetwork takes an exact count per layer inside the pruning mask, the
straight-through estimator reaches the scores, a subnetwork of random weights
learns what the random weights cannot, and the round loop records, saves,
resumes and blocks its steps as it does when the weights train."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from rlth_runner.config import ConfigError, fingerprint, validate
from rlth_runner.data import TensorBatches
from rlth_runner.lottery.pruning import masks
from rlth_runner.lottery.pruning.magnitude import prune_layerwise
from rlth_runner.models.mlp import MLP
from rlth_runner.training.callbacks import EnforceMasks
from rlth_runner.training.edge_popup import Subnetwork, chosen_count, top_entries
from rlth_runner.training.tasks import Classifier


def pruned_mlp(width=32, inputs=(1, 8, 8), classes=10, seed=0, density=0.7):
    torch.manual_seed(seed)
    net = MLP(input_shape=inputs, num_classes=classes, width=width, hidden_layers=1)
    masks.attach(net, ["Linear"])
    if density < 1:
        prune_layerwise(net, {n: density for n in masks.masked_layers(net)})
    return net


def train(search, x, y, steps, lr=1e-2, weight_decay=0.0, batch=32):
    module = Classifier(search, "adam", lr=lr, weight_decay=weight_decay)
    trainer = pl.Trainer(max_steps=steps, callbacks=[EnforceMasks()], logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    trainer.fit(module, TensorBatches(x, y, batch, shuffle=True, seed=1))
    assert trainer.global_step == steps
    return module


def accuracy(net, x, y) -> float:
    with torch.no_grad():
        return float((net(x).argmax(-1) == y).float().mean())


def test_only_the_scores_train_and_every_weight_stays_bit_identical():
    net = pruned_mlp()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    search = Subnetwork(net, 0.5, seed=3)
    scores = {k: v.detach().clone() for k, v in search.scores.items()}
    torch.manual_seed(1)
    x, y = torch.randn(256, 1, 8, 8), torch.randint(0, 10, (256,))
    module = train(search, x, y, steps=20, weight_decay=0.1)  # weight decay would move any weight the optimizer held

    (group,) = module.optimizers().optimizer.param_groups
    assert {id(p) for p in group["params"]} == {id(p) for p in search.scores.values()}
    after = net.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)  # weights, biases, masks
    assert all(not torch.equal(search.scores[k], scores[k]) for k in scores)


@pytest.mark.parametrize("density", [0.5, 0.3, 0.01, 1.0])
def test_the_subnetwork_takes_the_top_scores_inside_the_mask_in_an_exact_count(density):
    net = pruned_mlp(density=0.7)
    search = Subnetwork(net, density, seed=0)
    for name, chosen in search.chosen().items():
        mask, score = net.get_submodule(name).weight_mask.bool(), search.scores[name.replace(".", "/")].detach().abs()
        kept = int(mask.count_nonzero())
        assert int(chosen.count_nonzero()) == chosen_count(kept, density) == max(1, int(kept * density + 0.5))
        picked = chosen.bool()
        assert not (picked & ~mask).any(), "chosen inside the pruning mask only"
        if density < 1:
            assert score[picked].min() >= score[mask & ~picked].max()
    assert chosen_count(10, 0.25) == 3 and chosen_count(10, 0.01) == 1 and chosen_count(0, 0.5) == 0


def test_ties_at_the_threshold_still_give_the_exact_count():
    flat = torch.tensor([3.0, 1.0, 2.0, 2.0, 2.0, 0.0, 2.0, float("-inf")])
    for keep in range(0, 8):
        chosen = top_entries(flat, keep).bool()
        assert int(chosen.count_nonzero()) == keep
        assert keep == 0 or flat[chosen].min() >= flat[~chosen].max()


def test_the_straight_through_estimator_gives_each_score_its_weights_gradient():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 4, bias=False))
    masks.attach(net, ["Linear"])
    search = Subnetwork(net, 0.5, seed=0)
    x = torch.randn(5, 6)
    search(x).sum().backward()
    score = search.scores["0"]
    # d(sum of outputs)/d(w_eff) is each input's column sum; the estimator passes it on as w * that, through |score|.
    expected = net[0].weight * x.sum(0) * score.detach().sign()
    assert score.grad is not None and score.grad.count_nonzero() == score.numel()
    assert torch.allclose(score.grad, expected)
    assert net[0].weight.grad is None


def test_a_subnetwork_of_random_weights_solves_what_the_random_weights_cannot():
    generator = torch.Generator().manual_seed(0)
    x, normal = torch.randn(4096, 40, generator=generator), torch.randn(40, generator=generator)
    side = x @ normal / normal.norm()
    x, y = x[side.abs() > 0.3][:2048], (side[side.abs() > 0.3][:2048] > 0).long()  # two classes, a margin apart
    net = pruned_mlp(width=128, inputs=(40,), classes=2, density=1.0)
    random_acc = accuracy(net, x[1024:], y[1024:])
    search = Subnetwork(net, 0.5, seed=0)
    train(search, x[:1024], y[:1024], steps=100, lr=0.03, batch=64)  # 0.97-0.99 on seeds 0-4, the random weights 0.48-0.51
    found_acc = accuracy(search.eval(), x[1024:], y[1024:])
    assert random_acc < 0.6 < 0.9 < found_acc, (random_acc, found_acc)


# ------------------------------------------------------------------ through the round loop

ARGS = ("rounds=2", "train.mode=edge_popup", "model.width=64", "train.batch_size=128", "train.lr=0.05", "train.epochs=2",
        "train.max_steps=null", "checkpoint.min_interval_s=0", "train.eval_every_n_steps=7")


def rounds_of(out: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in json.loads((out / "summary.json").read_text())["rounds"]]


def weights(out: Path, k: int) -> dict:
    return torch.load(out / "rounds" / f"round_{k}" / "weights.pt", weights_only=True)


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    from hydra import compose, initialize_config_dir

    from conftest import FAST
    from rlth_runner.entry.conf import CONFIG_DIR
    from rlth_runner.run.runner import run

    def cfg(out, *extra):
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            return compose(config_name="config", overrides=[*FAST, f"paths.output_dir={out}", *ARGS, *extra])

    out = tmp_path_factory.mktemp("edge_popup") / "straight"
    run(cfg(out))
    return out, cfg


def test_a_round_records_and_saves_its_subnetwork(straight):
    from rlth_runner.run.checkpoints import load_network
    from rlth_runner.data.digits import load_digits

    out, _ = straight
    test = load_digits().test
    init = torch.load(out / "init.pt", weights_only=True)
    for record in rounds_of(out):
        k, net = record["round"], load_network(out, record["round"])
        layers = masks.masked_layers(net)
        counts = {name: chosen_count(int(layer.weight_mask.count_nonzero()), 0.5) for name, layer in layers.items()}
        assert record["subnetwork_density"] == sum(counts.values()) / sum(layer.weight.numel() for layer in layers.values())
        assert record["density"] == pytest.approx(0.8**k, abs=1e-3)  # the pruning mask: the space the subnetwork is chosen in
        for name, layer in layers.items():  # weights.pt: the frozen initial weights where chosen, 0 elsewhere
            kept = layer.weight != 0
            assert int(kept.count_nonzero()) == counts[name] and not (kept & (layer.weight_mask == 0)).any()
            assert torch.equal(layer.weight[kept], init[f"{name}.weight"][kept])
        assert accuracy(net, *test) == pytest.approx(record["test_acc"], abs=1e-6)  # the saved subnetwork is what was tested
        assert record["test_acc"] > record["supermask_acc"] + 0.2  # round 0's supermask_acc: the random weights, all of them


def test_blocks_of_one_step_give_the_same_rounds(straight, tmp_path):
    from rlth_runner.run.runner import run

    out, cfg = straight
    run(cfg(tmp_path / "one", "train.steps_per_block=1"))
    assert rounds_of(tmp_path / "one") == rounds_of(out)
    assert all(torch.equal(weights(tmp_path / "one", k)[n], w) for k in (0, 1) for n, w in weights(out, k).items())


def test_a_round_killed_after_a_checkpoint_resumes_its_scores_exactly(straight, tmp_path, monkeypatch):
    from rlth_runner.run.runner import run
    from rlth_runner.training.round_checkpoint import RoundCheckpoint

    out, cfg = straight

    class Killed(BaseException):
        pass

    save = RoundCheckpoint.on_train_epoch_end

    def killed_after_epoch_1_of_round_1(self, trainer, pl_module):
        save(self, trainer, pl_module)
        if trainer.logger.version == "round_1":
            raise Killed

    monkeypatch.setattr(RoundCheckpoint, "on_train_epoch_end", killed_after_epoch_1_of_round_1)
    with pytest.raises(Killed):
        run(cfg(tmp_path / "run"))
    checkpoint = torch.load(tmp_path / "run" / "rounds" / "round_1" / "checkpoint.ckpt", weights_only=False)
    assert any(".scores." in key for key in checkpoint["state_dict"])
    monkeypatch.undo()
    run(cfg(tmp_path / "run"))
    assert rounds_of(tmp_path / "run") == rounds_of(out)
    assert all(torch.equal(weights(tmp_path / "run", 1)[n], w) for n, w in weights(out, 1).items())


@pytest.mark.parametrize("override, line", [
    ("train.mode=scores", "train.mode='scores' is not one of: weights, edge_popup"),
    ("train.edge_popup.density=0", "train.edge_popup.density=0 must be in (0, 1]"),
    ("train.edge_popup.density=1.5", "train.edge_popup.density=1.5 must be in (0, 1]"),
    ("train.edge_popup.density=nan", "train.edge_popup.density=nan must be in (0, 1]"),
])
def test_bad_values_are_one_line(make_cfg, override, line):
    with pytest.raises(ConfigError) as err:
        validate(make_cfg(override))
    assert str(err.value).startswith(line) and "\n" not in str(err.value)


def test_runs_made_before_the_mode_existed_continue_as_weights(make_cfg):
    stored = {k: v for k, v in fingerprint.settings(make_cfg()).items() if not k.startswith(("train.mode", "train.edge_popup"))}
    assert fingerprint.differences(stored, fingerprint.settings(make_cfg())) == []
    assert fingerprint.differences(stored, fingerprint.settings(make_cfg("train.mode=edge_popup"))) == [
        'train.mode=unset (this command: "edge_popup")']


def test_the_strong_ticket_preset_searches_half_of_a_random_mlp_on_fashion_mnist(make_cfg):
    cfg = make_cfg("experiment=strong_ticket")
    validate(cfg)
    assert (cfg.dataset.name, cfg.model.name, cfg.rounds) == ("fashion_mnist", "mlp", 1)
    assert cfg.train.mode == "edge_popup" and cfg.train.edge_popup.density == 0.5
