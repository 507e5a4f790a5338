"""docs/design.md's recipes, followed: "Adding a policy", "Adding a pruner",
"Adding a dataset" and "Adding a model", each applied to a copy of src/,
conf/ and tests/ in a temporary folder, as a user would apply it.

For each recipe, a throwaway piece is written, and only in the files the recipe
names (a snapshot of the copy before and after the recipe must differ in
exactly those paths, and a registry or check edit is a single line). Then the
real `rlth-run`, importing the copy, shows that the piece took effect: the
policy's starting weights, the pruner's exact masks, the dataset's shape and
split, the model's layer names. Last, the copy's own tests/test_configs.py
and tests/test_architecture.py, unedited, find the new files by themselves.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

# Slow tier (copies of the repository and real runs: about 30 s), so that `make test` stays under 3 minutes.
pytestmark = pytest.mark.slow
import torch

ROOT = Path(__file__).resolve().parents[1]
RLTH_RUN = Path(sys.executable).with_name("rlth-run")
# Small runs: tests/conftest.py's FAST without model.width, which a new model need not have.
TINY = ["rounds=2", "train.epochs=1", "train.max_steps=8", "train.log_every_n_steps=2"]
PKG = "src/rlth_runner"


# ---------------------------------------------------------------- the throwaway pieces

POLICY = '''"""`policy=constant_start`, a throwaway of tests/test_recipes.py: every kept
weight of a prunable layer starts round k >= 1 at `policy.value`."""

from __future__ import annotations

from ...config.values import number
from .base import Policy


class ConstantStart(Policy):
    @classmethod
    def check(cls, cfg) -> None:
        number(cfg, "value", -1.0, 1.0, high_open=False)

    def apply(self, net, round_index: int) -> None:
        import torch

        from ..pruning import masks

        with torch.no_grad():
            for layer in masks.masked_layers(net).values():
                layer.weight.fill_(self.cfg.value)
        masks.apply(net)
'''

PRUNER = '''"""A throwaway pruner of tests/test_recipes.py: keeps the weights of largest flat index."""

from __future__ import annotations

import torch
from torch import nn


def scores(layer: nn.Module, generator=None) -> torch.Tensor:
    w = layer.weight
    return torch.arange(w.numel(), dtype=torch.float32, device=w.device).view(w.shape)
'''

DATASET = '''"""A throwaway dataset of tests/test_recipes.py: `classes` Gaussian blobs of 1x4x4 images."""

from __future__ import annotations

import torch

from .bundle import DataBundle, check_holdout, split_indices


def load_blobs(N: int = 120, classes: int = 3, val_size: int = 20, test_size: int = 30, data_seed: int = 0,
               split_seed: int = 0, data_dir=None, **_) -> DataBundle:
    g = torch.Generator().manual_seed(data_seed)
    centres = 3 * torch.randn(classes, 1, 4, 4, generator=g)
    y = torch.arange(N + test_size) % classes
    x = centres[y] + torch.randn(len(y), 1, 4, 4, generator=g)
    check_holdout("dataset.val_size", val_size, N, "blobs")
    train, val = split_indices(N, val_size, split_seed)
    return DataBundle("blobs", (x[train], y[train]), (x[val], y[val]), (x[N:], y[N:]), (1, 4, 4), classes)
'''

MODEL = '''"""A throwaway model of tests/test_recipes.py: one 3x3 convolution, then the output layer."""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from .common import image_shape


class TinyNet(nn.Module):
    def __init__(self, input_shape, num_classes: int, channels: int = 4, **_):
        super().__init__()
        c, h, w = image_shape(input_shape, 3, "a 3x3 convolution")
        self.features = nn.ModuleDict({"conv": nn.Conv2d(c, channels, 3, padding=1)})
        self.output = nn.Linear(channels * h * w, num_classes)

    def forward(self, x):
        return self.output(F.relu(self.features["conv"](x)).flatten(1))
'''


# ---------------------------------------------------------------- following a recipe

def snapshot(root: Path) -> dict[str, bytes]:
    """Every file of the copy (a symlink by its target), by path relative to it."""
    files = {}
    for path in root.rglob("*"):
        if "__pycache__" in path.parts or (path.is_dir() and not path.is_symlink()):
            continue
        rel = path.relative_to(root).as_posix()
        files[rel] = b"-> " + os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
    return files


def changed(before: dict, after: dict) -> set[str]:
    return {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}


def line_diff(before: bytes, after: bytes) -> list[str]:
    """The removed (-) and added (+) lines between two versions of a file."""
    diff = difflib.ndiff(before.decode().splitlines(), after.decode().splitlines())
    return [line for line in diff if line[:1] in "+-"]


def write(copy: Path, rel: str, text: str) -> None:
    path = copy / rel
    assert not path.exists(), f"{rel} exists already: the throwaway would overwrite it"
    path.write_text(text)


def edit(copy: Path, rel: str, old: str, new: str) -> None:
    path = copy / rel
    text = path.read_text()
    assert text.count(old) == 1, f"{rel}: the recipe's anchor {old!r} is not there exactly once; is the recipe stale?"
    path.write_text(text.replace(old, new))


def add_policy(copy: Path) -> None:
    # 1. A Policy subclass in lottery/policies/<name>.py (torch imported inside its methods).
    write(copy, f"{PKG}/lottery/policies/constant_start.py", POLICY)
    # 2. One line in POLICIES.
    edit(copy, f"{PKG}/config/choices.py", "POLICIES = {\n",
         'POLICIES = {\n    "constant_start": "rlth_runner.lottery.policies.constant_start:ConstantStart",\n')
    # 3. conf/policy/<name>.yaml with `name` and its keys.
    write(copy, "conf/policy/constant_start.yaml", "name: constant_start\nvalue: 0.25\n")


def add_pruner(copy: Path) -> None:
    # 1. A score function in lottery/pruning/<name>.py.
    write(copy, f"{PKG}/lottery/pruning/last_index.py", PRUNER)
    # 2. One line in PRUNERS, with its scopes.
    edit(copy, f"{PKG}/config/choices.py", "PRUNERS = {\n",
         'PRUNERS = {\n    "last_index": PrunerChoice(("layer", "global"), "rlth_runner.lottery.pruning.last_index:scores"),\n')
    # 3. conf/pruner/<name>.yaml on top of magnitude's.
    write(copy, "conf/pruner/last_index.yaml", "defaults:\n  - magnitude\n  - _self_\nname: last_index\n")


DATASET_KEYS = "for key, minimum in ("  # the loop over integer dataset keys in config/checks.py's _dataset


def add_dataset(copy: Path) -> None:
    # 1. A loader in data/<name>.py.
    write(copy, f"{PKG}/data/blobs.py", DATASET)
    # 2. conf/dataset/<name>.yaml with _target_, name and its keys.
    write(copy, "conf/dataset/blobs.yaml", "_target_: rlth_runner.data.blobs.load_blobs\nname: blobs\n"
          "N: 120\nclasses: 3\nval_size: 20\ntest_size: 30\ndata_seed: 0\nsplit_seed: 0\n")
    # 3. Its new key's check: one more (key, minimum) pair in _dataset's loop.
    edit(copy, f"{PKG}/config/checks.py", DATASET_KEYS, DATASET_KEYS + '("classes", 2), ')


def add_model(copy: Path) -> None:
    # 1. An nn.Module in models/<name>.py, its last layer named `output`.
    write(copy, f"{PKG}/models/tiny_net.py", MODEL)
    # 2. conf/model/<name>.yaml with _target_ and name.
    write(copy, "conf/model/tiny_net.yaml", "_target_: rlth_runner.models.tiny_net.TinyNet\nname: tiny_net\nchannels: 4\n")


# Each recipe, and the files it names.
RECIPES = {
    "policy": (add_policy, {f"{PKG}/lottery/policies/constant_start.py", f"{PKG}/config/choices.py", "conf/policy/constant_start.yaml"}),
    "pruner": (add_pruner, {f"{PKG}/lottery/pruning/last_index.py", f"{PKG}/config/choices.py", "conf/pruner/last_index.yaml"}),
    "dataset": (add_dataset, {f"{PKG}/data/blobs.py", "conf/dataset/blobs.yaml", f"{PKG}/config/checks.py"}),
    "model": (add_model, {f"{PKG}/models/tiny_net.py", "conf/model/tiny_net.yaml"}),
}


@dataclass
class Tree:
    root: Path  # the copy
    diffs: dict  # by recipe: (the paths it changed, {an edited file: its removed and added lines})


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Tree:
    """A copy of the repository's src/, conf/, tests/ and pyproject.toml with the four recipes followed in turn."""
    copy = tmp_path_factory.mktemp("repo")
    for folder in ("src", "conf", "tests"):
        # symlinks=True: src/rlth_runner/conf stays the link to ../../conf, now the copy's conf/ (entry/conf.py's CONFIG_DIR).
        shutil.copytree(ROOT / folder, copy / folder, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "pyproject.toml", copy / "pyproject.toml")
    diffs = {}
    for recipe, (follow, _) in RECIPES.items():
        before = snapshot(copy)
        follow(copy)
        after = snapshot(copy)
        paths = changed(before, after)
        diffs[recipe] = (paths, {p: line_diff(before[p], after[p]) for p in paths if p in before})
    return Tree(copy, diffs)


def run(tree, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The installed rlth-run, importing the copy's src/ (and so reading its conf/)."""
    env = {**os.environ, "PYTHONPATH": str(tree.root / "src"), "HYDRA_FULL_ERROR": "0"}
    return subprocess.run([str(RLTH_RUN), *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=600)


def run_ok(tree, tmp_path: Path, *args: str) -> Path:
    out = tmp_path / "run"
    proc = run(tree, *TINY, *args, f"hydra.run.dir={out}", cwd=tmp_path)
    assert proc.returncode == 0, f"rlth-run {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and len(summary["rounds"]) == 2
    return out


def one_line_error(tree, tmp_path: Path, *args: str) -> str:
    proc = run(tree, *TINY, *args, f"hydra.run.dir={tmp_path / 'bad'}", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert not (tmp_path / "bad" / "summary.json").exists(), "refused before the run started"
    return line


def load(out: Path, k: int, name: str):
    return torch.load(out / "rounds" / f"round_{k}" / name, weights_only=True)


def assert_followed(tree, recipe: str, one_line_edits: dict[str, list[str]]) -> None:
    paths, diffs = tree.diffs[recipe]
    assert paths == RECIPES[recipe][1], f"the {recipe} recipe touched {sorted(paths)}"
    assert diffs == one_line_edits


# ---------------------------------------------------------------- the recipes' tests

def test_adding_a_policy(tree, tmp_path):
    assert_followed(tree, "policy", {f"{PKG}/config/choices.py": [
        '+     "constant_start": "rlth_runner.lottery.policies.constant_start:ConstantStart",']})
    out = run_ok(tree, tmp_path, "policy=constant_start", "verify.enabled=true", "model.width=32")
    assert json.loads((out / "summary.json").read_text())["policy"] == "constant_start"
    masks = load(out, 1, "mask.pt")
    start = load(out, 1, "start.pt")
    assert set(masks) == {"input", "hidden.h0", "output"}
    for name, mask in masks.items():
        # Round 1 starts from the policy's weights: 0.25 where the mask keeps, 0 where it prunes.
        assert torch.equal(start[f"{name}.weight"], 0.25 * mask.float()), name
        assert 0 < int(mask.sum()) < mask.numel()
    # Round 0 starts from the initialisation: the policy acts after pruning only.
    assert load(out, 0, "start.pt")["input.weight"].unique().numel() > 1000
    # Its own check (`check`, run by the torch-free validation that imports the module) refuses a bad value.
    assert one_line_error(tree, tmp_path, "policy=constant_start", "policy.value=2") == \
        "rlth-run: error: policy.value=2 must be in [-1.0, 1.0]"


def test_adding_a_pruner(tree, tmp_path):
    assert_followed(tree, "pruner", {f"{PKG}/config/choices.py": [
        '+     "last_index": PrunerChoice(("layer", "global"), "rlth_runner.lottery.pruning.last_index:scores"),']})
    out = run_ok(tree, tmp_path, "pruner=last_index", "model.width=32")
    assert json.loads((out / "summary.json").read_text())["pruner"] == "last_index"
    assert all(bool(m.all()) for m in load(out, 0, "mask.pt").values())
    masks = load(out, 1, "mask.pt")
    assert {name: tuple(m.shape) for name, m in masks.items()} == {"input": (32, 64), "hidden.h0": (32, 32), "output": (10, 32)}
    for name, mask in masks.items():
        n = mask.numel()
        keep = int(n * 0.8 + 0.5)  # sparsity 0.2, the exact count of the magnitude file the pruner's yaml extends
        expected = (torch.arange(n) >= n - keep).view(mask.shape)
        assert torch.equal(mask.bool(), expected), f"{name}: not the {keep} weights of largest index"


def test_adding_a_dataset(tree, tmp_path):
    paths, diffs = tree.diffs["dataset"]
    assert paths == RECIPES["dataset"][1], f"the dataset recipe touched {sorted(paths)}"
    (old, new), = diffs.values()  # config/checks.py: one line changed, by one more pair
    assert old.startswith("- ") and new == "+" + old[1:].replace(DATASET_KEYS, DATASET_KEYS + '("classes", 2), ')
    # 100 training examples in batches of 10: one epoch is 10 steps.
    out = run_ok(tree, tmp_path, "dataset=blobs", "model.width=32", "train.batch_size=10", "train.max_steps=1000")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dataset"] == "blobs" and [r["train_steps"] for r in summary["rounds"]] == [10, 10]
    arch = json.loads((out / "rounds" / "round_1" / "arch.json").read_text())
    assert arch["input_shape"] == [1, 4, 4] and arch["num_classes"] == 3
    weights = load(out, 1, "weights.pt")
    assert weights["input.weight"].shape == (32, 16) and weights["output.weight"].shape == (3, 32)
    # The check added to config/checks.py answers before any training.
    assert one_line_error(tree, tmp_path, "dataset=blobs", "dataset.classes=1") == \
        "rlth-run: error: dataset.classes=1 must be an integer >= 2"


def test_adding_a_model(tree, tmp_path):
    assert_followed(tree, "model", {})
    out = run_ok(tree, tmp_path, "model=tiny_net")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == "tiny_net"
    arch = json.loads((out / "rounds" / "round_1" / "arch.json").read_text())
    assert arch["model"] == {"_target_": "rlth_runner.models.tiny_net.TinyNet", "name": "tiny_net", "channels": 4}
    masks = load(out, 1, "mask.pt")
    # Its layers by their names, pruned to the default magnitude pruner's exact counts.
    assert {name: tuple(m.shape) for name, m in masks.items()} == {"features.conv": (4, 1, 3, 3), "output": (10, 256)}
    assert {name: int(m.sum()) for name, m in masks.items()} == {"features.conv": 29, "output": 2048}


@pytest.mark.slow
def test_the_copys_own_tests_find_the_new_files_by_themselves(tree, tmp_path):
    """The recipes' claim: tests/test_configs.py composes every new option and runs the new
    model on every dataset and every model on the new dataset (a forward pass, or the model's
    refusal), tests/test_models.py trains each pair the model takes, and
    tests/test_architecture.py checks the new policy, with no test edited (the recipes'
    snapshots above show tests/ unchanged)."""
    report = tmp_path / "junit.xml"
    select = "constant_start or last_index or blobs or tiny_net or every_policy or no_import_cycle"
    env = {**os.environ, "PYTHONPATH": str(tree.root / "src")}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", select, f"--junitxml={report}",
         f"--basetemp={tmp_path / 'inner'}", "tests/test_configs.py", "tests/test_models.py", "tests/test_architecture.py"],
        cwd=tree.root, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    outcome = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        children = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        outcome[f"{Path(case.get('classname').replace('.', '/')).name}::{case.get('name')}"] = children[0] if children else "passed"
    datasets = sorted(p.stem for p in (tree.root / "conf" / "dataset").glob("*.yaml"))
    models = sorted(p.stem for p in (tree.root / "conf" / "model").glob("*.yaml"))
    assert "blobs" in datasets and "tiny_net" in models and len(datasets) > 3 and len(models) > 3
    forward = "test_configs::test_every_pair_builds_and_runs_forward_unless_the_model_refuses_the_data"
    train = "test_models::test_every_pair_meant_to_work_trains_two_steps"
    expected = {
        **{f"test_configs::test_every_option_composes_and_validates[{o}]": "passed"
           for o in ("policy=constant_start", "pruner=last_index", "dataset=blobs", "model=tiny_net")},
        **{f"{forward}[{d}-tiny_net]": "passed" for d in datasets},
        **{f"{forward}[blobs-{m}]": "passed" for m in models},
        # The pairs a model refuses are skipped by the training test: tiny_net takes images only.
        **{f"{train}[{d}-tiny_net]": "skipped" if d == "teacher" else "passed" for d in datasets},
        "test_architecture::test_config_home_and_every_policy_import_without_torch": "passed",
        "test_architecture::test_every_policy_in_the_choices_is_a_policy": "passed",
        "test_architecture::test_no_import_cycle": "passed",
    }
    assert {key: outcome.get(key) for key in expected} == expected
    trained_on_blobs = {m for m in models if outcome.get(f"{train}[blobs-{m}]") == "passed"}
    assert {"mlp", "tiny_net"} <= trained_on_blobs
    assert all(outcome.get(f"{train}[blobs-{m}]") in ("passed", "skipped") for m in models)
