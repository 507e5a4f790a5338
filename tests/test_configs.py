"""Every config under conf/ composes, validates and, where it describes an
object (datasets, models, experiment presets), instantiates: a forward pass
for every dataset x model pair, unless the model refuses the data in its
own input check, and then the run stops before training with one line. No
training: the training matrices are in the slow tier (test_models.py,
test_presets.py).

The options are found by listing conf/, so a new yaml is covered without
editing this file.
"""

from __future__ import annotations

import copy
import functools
import re
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from rlth_runner.config import validate
from rlth_runner.data import load_dataset
from rlth_runner.entry.conf import CONFIG_DIR
from rlth_runner.lottery.pruning import masks
from rlth_runner.models.build import ModelDataMismatch, build_model
from rlth_runner.run.runner import RunError, run

from test_data import offline  # noqa: F401 (a fixture)
from test_models import PAIRS, SMALL, compose_cfg as run_cfg, data_dir, refusal  # noqa: F401 (data_dir is a fixture)

CONF = Path(CONFIG_DIR)
# conf/hydra holds Hydra's own help and logging overrides, not options of a run.
GROUPS = sorted(p.name for p in CONF.iterdir() if p.is_dir() and p.name != "hydra")
OPTIONS = [(group, yaml.stem) for group in GROUPS for yaml in sorted((CONF / group).glob("*.yaml"))]
BATCH = 4


def options(group: str) -> list[str]:
    return [option for g, option in OPTIONS if g == group]


@functools.lru_cache(maxsize=None)
def _compose(overrides: tuple[str, ...]):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def compose_cfg(*overrides: str):
    """conf/config.yaml with overrides; each distinct list is composed once (a tenth of a second each)."""
    return copy.deepcopy(_compose(overrides))


def fixture_cfg(data_dir: Path, *overrides: str):
    """The composed config, reading the small fixture files under data_dir."""
    cfg = compose_cfg(*overrides)
    cfg.paths.data_dir = str(data_dir)
    if "system_dir" in cfg.dataset:
        cfg.dataset.system_dir = None  # the files under data_dir, not a copy the machine may have
    return cfg


@pytest.fixture(scope="module")
def bundles(data_dir):  # noqa: F811
    """Each dataset at its SMALL size, loaded once, by the first test that needs it (under `offline`)."""
    cache = {}

    def get(name: str):
        if name not in cache:
            cfg = fixture_cfg(data_dir, f"dataset={name}", *SMALL[name])
            validate(cfg)
            cache[name] = load_dataset(cfg.dataset, cfg.paths.data_dir, cfg.hardware)
        return cache[name]

    return get


def test_the_listing_finds_every_group_of_the_primary_config():
    assert {"dataset", "model", "pruner", "policy", "hardware", "experiment"} <= set(GROUPS)
    assert all(options(group) for group in GROUPS), "a group directory without a yaml"
    # Every dataset and model is built below, in test_models.py's matrix.
    assert {d for d, _ in PAIRS} == set(options("dataset"))
    assert {m for _, m in PAIRS} == set(options("model"))


@pytest.mark.parametrize("group, option", OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_option_composes_and_validates(group, option):
    cfg = compose_cfg(f"{group}={option}")
    validate(cfg)
    if group in ("dataset", "model", "pruner", "policy"):
        assert cfg[group].name, f"{group}={option} has no name"
    if group in ("dataset", "model"):
        assert cfg[group]._target_.startswith("rlth_runner."), cfg[group]._target_
    if group == "hardware":
        assert {"accelerator", "devices", "precision"} <= set(cfg.hardware)


@pytest.mark.parametrize("dataset, model", PAIRS, ids=[f"{d}-{m}" for d, m in PAIRS])
def test_every_pair_builds_and_runs_forward_unless_the_model_refuses_the_data(dataset, model, bundles, data_dir, tmp_path, offline):  # noqa: F811
    data = bundles(dataset)
    model_cfg = compose_cfg(f"model={model}").model  # the model group does not depend on the dataset
    torch.manual_seed(0)
    try:
        net = build_model(model_cfg, data)
    except ModelDataMismatch:
        if (refused := refusal(model_cfg, data)) is None:
            raise  # the model takes the data: it must run on it
        out = tmp_path / "run"
        with pytest.raises(RunError, match=rf"model={model} does not fit dataset={dataset} \(input shape .*\): the model {re.escape(refused)}$"):
            run(run_cfg(dataset, model, data_dir, out))
        # Caught while building, like a config error: nothing of a run is written.
        assert not (out / "summary.json").exists()
        assert not (out / "rounds").exists() and not (out / "init.pt").exists()
        return
    assert net.training, "built ready to train"
    x = data.train[0][:BATCH]
    with torch.no_grad():  # in training mode, as a training step runs it (batch norm on batch statistics)
        out = net(x)
    assert out.shape == (BATCH, data.num_classes) and torch.isfinite(out).all()
    names = masks.attach(net, ["Linear", "Conv2d"])
    assert names and all(not part.isdigit() for name in names for part in name.split(".")), "layers named by stable names"
    # The last layer is `output` across the zoo (so that layer_rates: {output: 0.1} means the same everywhere);
    # rlth_resnet keeps the RLTH paper's `head`, and student averages its one layer's neurons.
    assert list(names)[-1] == {"rlth_resnet": "head", "student": "hidden"}.get(model, "output")


@pytest.mark.parametrize("preset", options("experiment"))
def test_every_experiment_builds_its_model_on_its_dataset(preset, data_dir, offline):  # noqa: F811
    cfg = fixture_cfg(data_dir, f"experiment={preset}", "dataset.val_size=4")
    validate(cfg)
    assert cfg.dataset.name in options("dataset") and cfg.model.name in options("model")
    data = load_dataset(cfg.dataset, cfg.paths.data_dir, cfg.hardware)
    net = build_model(cfg.model, data)
    with torch.no_grad():
        out = net(data.train[0][:BATCH])
    assert out.shape == (BATCH, data.num_classes) and torch.isfinite(out).all()
    p = cfg.pruner
    selected = masks.select(net, p.layer_types, p.include, p.exclude)
    # A growing preset may start with nothing to prune (no blocks yet); the others prune from round 1.
    assert selected or cfg.policy.name == "grow", f"{preset}: the pruner selects no layer of {cfg.model.name}"
