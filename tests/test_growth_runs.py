"""Whole `policy=grow` runs in-process on digits (and 3-channel digits for the ResNet)."""

import json

import pytest
import torch

from rlth_runner.config import validate
from rlth_runner.data import DataBundle
from rlth_runner.data.digits import load_digits
from rlth_runner.lottery import growth
from rlth_runner.run import checkpoints
from rlth_runner.run.runner import run

GROW = ["policy=grow", "model.hidden_layers=0"]


def rgb_digits(**kwargs) -> DataBundle:
    """The digits as 3-channel 8x8 images: a CPU-sized stand-in for CIFAR-10."""
    d = load_digits(**kwargs)
    rgb = lambda xy: (xy[0].expand(-1, 3, -1, -1).contiguous(), xy[1])  # noqa: E731
    return DataBundle("rgb_digits", rgb(d.train), rgb(d.val), rgb(d.test), (3, 8, 8), 10)


RGB = [f"dataset._target_={__name__}.rgb_digits", "dataset.name=rgb_digits"]


def summary(run_dir):
    return json.loads((run_dir / "summary.json").read_text())


def round_masks(run_dir, k):
    return torch.load(run_dir / "rounds" / f"round_{k}" / "mask.pt", weights_only=True)


@pytest.fixture(scope="module")
def grow_run(tmp_path_factory):
    """4 rounds from zero hidden layers, recording each round's optimizer."""
    import rlth_runner.run.fitting as fitting
    import pytorch_lightning as pl
    from hydra import compose, initialize_config_dir

    from conftest import FAST
    from rlth_runner.entry.conf import CONFIG_DIR

    out = tmp_path_factory.mktemp("grow") / "run"
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*FAST, f"paths.output_dir={out}", "rounds=4", *GROW])
    validate(cfg)

    seen = []

    class RecordOptimizer(pl.Callback):
        def on_train_start(self, trainer, pl_module):
            held = [p for group in trainer.optimizers[0].param_groups for p in group["params"]]
            # The optimizer itself, not its id: kept alive here, no later one can reuse its id.
            seen.append((len(held), {id(p) for p in held}, {id(p) for p in pl_module.net.parameters()}, trainer.optimizers[0]))

    build = fitting.build_trainer
    mp = pytest.MonkeyPatch()
    mp.setattr(fitting, "build_trainer", lambda *args, extra_callbacks=(), **kw: build(*args, extra_callbacks=[*extra_callbacks, RecordOptimizer()], **kw))
    try:
        run(cfg)
    finally:
        mp.undo()
    return out, seen


def test_grow_run_adds_one_hidden_layer_per_round(grow_run):
    out, _ = grow_run
    rounds = summary(out)["rounds"]
    assert [r["hidden_layers"] for r in rounds] == [0, 1, 2, 3]
    assert [r["params_total"] for r in rounds] == [rounds[0]["params_total"] + k * (32 * 32 + 32) for k in range(4)]
    for r in rounds:
        assert 0 < r["macs"] <= r["params_nonzero"]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tb = EventAccumulator(str(out / "tensorboard" / "summary"))
    tb.Reload()
    for key in ("hidden_layers", "params_total", "params_nonzero", "macs"):
        assert [(e.step, e.value) for e in tb.Scalars(f"rounds/{key}")] == [(r["round"], pytest.approx(r[key])) for r in rounds]


def test_every_layer_is_in_the_final_mask_and_pruned_the_round_after_insertion(grow_run):
    out, _ = grow_run
    final = round_masks(out, 3)
    assert set(final) == {"input", "hidden.h0", "hidden.h1", "hidden.h2", "output"}
    rounds = summary(out)["rounds"]
    for k in (1, 2, 3):
        new = f"hidden.h{k - 1}"
        assert rounds[k]["layer_density"][new] == 1.0, "a new layer starts dense"
        if k < 3:
            assert rounds[k + 1]["layer_density"][new] < 1.0, "the next round prunes it"
    for k in (1, 2, 3):  # old masks stay on their layers: pruning only ever removes
        before, after = round_masks(out, k - 1), round_masks(out, k)
        for name, m in before.items():
            assert not (after[name] & ~m).any(), f"{name} gained weights in round {k}"


def test_each_round_has_a_fresh_optimizer_over_all_parameters(grow_run):
    _, seen = grow_run
    assert len(seen) == 4
    counts = [n for n, _, _, _ in seen]
    assert counts == [4 + 2 * k for k in range(4)], "weight and bias of every layer, the new one included"
    for _, held, net_params, _ in seen:
        assert held == net_params
    assert len({id(opt) for *_, opt in seen}) == 4


def test_a_grown_checkpoint_loads_back_into_its_architecture(grow_run):
    out, _ = grow_run
    net = checkpoints.load_network(out, 3)
    assert growth.architecture(net) == ["h0", "h1", "h2"]
    saved = torch.load(out / "rounds" / "round_3" / "weights.pt", weights_only=True)
    state = net.state_dict()
    assert state.keys() == saved.keys() and all(torch.equal(state[k], saved[k]) for k in saved)
    # ... and computes what the run reported.
    x, y = load_digits().test
    with torch.no_grad():
        acc = (net(x).argmax(-1) == y).float().mean().item()
    assert acc == pytest.approx(summary(out)["rounds"][3]["test_acc"], abs=1e-6)
    # The round-1 network is shallower.
    assert growth.depth(checkpoints.load_network(out, 1)) == 1


def test_resumed_grow_run_matches_uninterrupted(make_cfg, tmp_path, grow_run):
    straight, _ = grow_run
    resumed = tmp_path / "resumed"
    run(make_cfg("rounds=2", *GROW, out=resumed))
    run(make_cfg("rounds=4", *GROW, out=resumed))  # rebuilds the 1-layer net from round 1's arch.json
    for k in range(4):
        a = torch.load(straight / "rounds" / f"round_{k}" / "weights.pt", weights_only=True)
        b = torch.load(resumed / "rounds" / f"round_{k}" / "weights.pt", weights_only=True)
        assert a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a), f"round {k} differs"


def test_resnet_grows_blocks_from_zero_and_prunes_only_blocks(make_cfg, tmp_path):
    out = tmp_path / "res"
    cfg = make_cfg("rounds=3", *GROW, *RGB, "model=rlth_resnet", "model.width=8", "policy.init=zero_residual", "pruner.include=[blocks.*]", out=out)
    validate(cfg)
    run(cfg)
    rounds = summary(out)["rounds"]
    assert [r["hidden_layers"] for r in rounds] == [0, 1, 2]
    assert rounds[0]["layer_density"] == {} and rounds[0]["density"] == 1.0
    assert set(round_masks(out, 2)) == {f"blocks.b{i}.conv{j}" for i in (0, 1) for j in (1, 2)}
    assert rounds[2]["layer_density"]["blocks.b0.conv1"] < 1.0 == rounds[2]["layer_density"]["blocks.b1.conv1"]
    assert rounds[0]["macs"] < rounds[1]["macs"]
    assert growth.architecture(checkpoints.load_network(out, 2)) == ["b0", "b1"]
