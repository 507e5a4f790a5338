"""The model zoo: every dataset x model pair in conf/ trains, unless the model
refuses the data in its own input check, and then the run fails before training.

Training every pair is the slow tier; the fast tier builds every pair and runs
a forward pass, or checks the refusal (test_configs.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from rlth_runner.config import validate
from rlth_runner.data import load_dataset
from rlth_runner.entry.conf import CONFIG_DIR
from rlth_runner.lottery.pruning import masks
from rlth_runner.models.build import ModelDataMismatch, build_model
from rlth_runner.models.common import ModelInputError
from rlth_runner.models.conv import ConvNet
from rlth_runner.models.lenet import LeNet300100, LeNet5
from rlth_runner.models.resnet import CifarResNet
from rlth_runner.models.vgg import VGG
from rlth_runner.run.runner import RunError, run

from conftest import rlth_run
from test_data import offline, small_overrides, write_small_files  # noqa: F401 (offline is a fixture)

CONF = Path(CONFIG_DIR)
# Every dataset and model in conf/, so that a new one is covered without editing this file.
DATASETS = sorted(p.stem for p in (CONF / "dataset").glob("*.yaml"))
MODELS = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))
PAIRS = [(d, m) for d in DATASETS for m in MODELS]
SMALL = {name: small_overrides(OmegaConf.load(CONF / "dataset" / f"{name}.yaml")) for name in DATASETS}


def refusal(model_cfg, data) -> str | None:
    """Why the model refuses the data in its own input check (ModelInputError, raised by its
    constructor): a pair not meant to work. None: the model takes the data, and must work on it."""
    try:
        instantiate(model_cfg, input_shape=tuple(data.input_shape), num_classes=data.num_classes)
    except InstantiationException as err:
        if isinstance(err.__cause__, ModelInputError):
            return str(err.__cause__)
        raise
    return None


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """Small MNIST, Fashion-MNIST and CIFAR-10 files, in their real formats."""
    root = tmp_path_factory.mktemp("data")
    write_small_files(root)
    return root


def compose_cfg(dataset: str, model: str, data_dir: Path, out: Path, *extra: str):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            f"dataset={dataset}", f"model={model}", *SMALL[dataset],
            "rounds=1", "train.epochs=1", "train.max_steps=2", "train.batch_size=4", "train.log_every_n_steps=1",
            f"paths.data_dir={data_dir}", f"paths.output_dir={out}", *extra,
        ])
    validate(cfg)
    return cfg


@pytest.mark.slow
@pytest.mark.parametrize("dataset, model", PAIRS, ids=[f"{d}-{m}" for d, m in PAIRS])
def test_every_pair_meant_to_work_trains_two_steps(dataset, model, data_dir, tmp_path, offline):  # noqa: F811
    out = tmp_path / "run"
    cfg = compose_cfg(dataset, model, data_dir, out)
    if refusal(cfg.model, load_dataset(cfg.dataset, cfg.paths.data_dir)) is not None:
        pytest.skip("the model refuses the data: test_configs.py checks that such a run stops before training")
    result = run(cfg)
    (r,) = result["summary"]["rounds"]
    assert result["summary"]["status"] == "completed" and r["train_steps"] == 2
    if dataset == "teacher":
        assert r["test_error"] >= 0 and r["val_error"] == result["objective"] and r["val_acc"] is None
    else:
        assert 0 <= r["val_acc"] <= 1 and 0 <= r["test_acc"] <= 1 and result["objective"] == r["val_acc"]


@pytest.mark.slow
@pytest.mark.parametrize("dataset, model", [("cifar10", "resnet20"), ("mnist", "lenet5"), ("digits", "conv4"), ("teacher", "mlp")])
def test_conv_nets_and_regression_prune_and_reset_by_layer_name(dataset, model, data_dir, tmp_path, offline):  # noqa: F811
    out = tmp_path / "run"
    rounds = run(compose_cfg(dataset, model, data_dir, out, "rounds=2", "train.max_steps=1"))["summary"]["rounds"]
    assert rounds[1]["density"] == pytest.approx(0.8, abs=0.01), "round 1 pruned every Linear and Conv2d layer"
    saved = torch.load(out / "rounds" / "round_1" / "mask.pt", weights_only=True)
    assert all(not part.isdigit() for name in saved for part in name.split(".")), "masks keyed by stable names"
    assert all(0.79 <= float(m.float().mean()) <= 0.81 or m.numel() < 50 for m in saved.values())


TEACHER_CONV2 = ("model=conv2 does not fit dataset=teacher (input shape (100,), 1 outputs): "
                 "the model needs images (channels, height, width) but the input shape is (100,)")


def test_a_mismatch_is_one_line_naming_the_pair(tmp_path):
    # What the CLI prints after "rlth-run: error: " (the slow test below runs the CLI).
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=["dataset=teacher", "model=conv2", f"paths.output_dir={tmp_path / 'run'}"])
    validate(cfg)
    with pytest.raises(RunError) as err:
        run(cfg)
    assert str(err.value) == TEACHER_CONV2
    assert isinstance(err.value.__cause__, ModelDataMismatch)
    assert not (tmp_path / "run" / "summary.json").exists()


@pytest.mark.slow
def test_cli_reports_a_mismatch_in_one_line(tmp_path):
    proc = rlth_run("dataset=teacher", "model=conv2", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path, check=False)
    assert proc.returncode == 2  # a bad input, like a bad value
    lines = proc.stderr.strip().splitlines()
    assert lines == ["rlth-run: error: " + TEACHER_CONV2], proc.stderr


class EightOutputs(nn.Module):
    """A model without an input check whose output width ignores num_classes."""

    def __init__(self, input_shape, num_classes, **_):
        super().__init__()
        self.output = nn.Linear(64, 8)

    def forward(self, x):
        return self.output(x.flatten(1))


def test_the_forward_probe_catches_models_without_an_input_check():
    from omegaconf import OmegaConf

    from rlth_runner.data.digits import load_digits

    data = load_digits()
    cfg = OmegaConf.create({"_target_": "test_models.EightOutputs", "name": "eight"})
    with pytest.raises(ModelDataMismatch, match=r"model=eight does not fit dataset=digits .*: it outputs shape \(8,\) per example, not \(10,\)"):
        build_model(cfg, data)
    data.input_shape = (1, 9, 9)  # lenet_300_100 is built for 81 inputs, the data has 64
    with pytest.raises(ModelDataMismatch, match="a forward pass fails"):
        build_model(OmegaConf.create({"_target_": "rlth_runner.models.lenet.LeNet300100", "name": "lenet_300_100"}), data)


# ---- architectures ----

def count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize(
    "make, shape, params",
    [
        # Frankle & Carbin (2019), Table 1: LeNet 266K, Conv-2 4.3M, Conv-4 2.4M. For Conv-6 the table
        # prints 1.7M, but the layers it lists (convs 64,64,128,128,256,256; FC 4096->256, 256, 10) add up to 2.26M.
        (lambda s: LeNet300100(s, 10), (1, 28, 28), 266_610),
        (lambda s: ConvNet(s, 10, convs=[64, 64]), (3, 32, 32), 4_301_642),
        (lambda s: ConvNet(s, 10, convs=[64, 64, 128, 128]), (3, 32, 32), 2_425_930),
        (lambda s: ConvNet(s, 10, convs=[64, 64, 128, 128, 256, 256]), (3, 32, 32), 2_262_602),
        (lambda s: LeNet5(s, 10), (1, 28, 28), 61_706),
    ],
)
def test_parameter_counts_match_the_published_architectures(make, shape, params):
    assert count(make(shape)) == params


def test_vgg_and_resnet_sizes():
    # conv and linear weights only, as the papers count them (batch norm adds a little)
    weights = lambda net: sum(m.weight.numel() for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))  # noqa: E731
    assert weights(VGG((3, 32, 32), 10, depth=19)) == pytest.approx(20.0e6, rel=0.01)
    assert weights(VGG((3, 32, 32), 10, depth=16)) == pytest.approx(14.7e6, rel=0.01)
    assert weights(CifarResNet((3, 32, 32), 10, depth=20)) == pytest.approx(0.27e6, rel=0.02)
    net = CifarResNet((3, 32, 32), 10, depth=20)
    assert sum(isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3) for m in net.modules()) + 1 == 20


@pytest.mark.parametrize("make", [
    lambda: LeNet5((1, 28, 28), 10), lambda: ConvNet((3, 32, 32), 10, convs=[64, 64, 128, 128]),
    lambda: VGG((3, 32, 32), 10, depth=16), lambda: CifarResNet((3, 32, 32), 10),
])
def test_every_layer_has_a_stable_name(make):
    net = make()
    names = masks.attach(net, ["Linear", "Conv2d"])
    assert names, "prunable layers found"
    assert all(not part.isdigit() for key in net.state_dict() for part in key.split(".")), "no positional Sequential indices"
    assert list(names)[-1] == "output"


def test_input_checks_name_the_requirement():
    with pytest.raises(ModelInputError, match=r"at least 16x16 pixels \(4 2x2 max pools\) but the input shape is \(1, 8, 8\)"):
        VGG((1, 8, 8), 10)
    with pytest.raises(ModelInputError, match=r"needs images \(channels, height, width\) but the input shape is \(100,\)"):
        CifarResNet((100,), 1)
