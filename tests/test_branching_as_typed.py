"""Branching as users type it (entry/branch_from.py, lottery/branches/): a sweep's job by the
directory name the tool printed, a whole sweep in one command, the parent's data directory;
and a branch off a parent it cannot use writes nothing into it."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from conftest import FAST, rlth_run
from test_bad_input import cli  # noqa: F401 - a fixture
from rlth_runner.config import ConfigError
from rlth_runner.entry import branch_from

PARENT = [*FAST, "rounds=2", "train.max_steps=2", "model.width=8", "policy=reset", "hardware.num_threads=1"]


def tree(root: Path) -> dict[str, str]:
    """Every entry under `root`: a folder, a link (with its target) or a file (with its content's hash)."""
    out = {}
    for p in sorted(root.rglob("*")):
        key = str(p.relative_to(root))
        out[key] = (f"-> {p.readlink()}" if p.is_symlink() else "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("rlth-run")]
    assert len(lines) == 1 and lines[0].startswith("rlth-run: error: "), stderr
    return lines[0]


def masks(run: Path, k: int) -> dict:
    return torch.load(run / "rounds" / f"round_{k}" / "mask.pt", weights_only=True)


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> tuple[Path, list[str]]:
    """A finished 2-job sweep, and the run directories its jobs printed."""
    where = tmp_path_factory.mktemp("sweep")
    proc = rlth_run("-m", "seed=0,1", *PARENT, f"hydra.sweep.dir={where / 'sw'}", cwd=where)
    return where / "sw", re.findall(r"^Run directory: (.+)$", proc.stdout, re.M)


# ---------------------------------------------------------------- the argument as typed, torch-free
def test_a_job_directory_is_quoted_and_a_comma_splits_only_existing_directories(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("0_seed=0", "1_policy=reset,seed=1", "plain"):
        (tmp_path / "sw" / name).mkdir(parents=True)
    assert branch_from.as_typed(["branch.from=sw/0_seed=0", "rounds=2"]) == ["branch.from='sw/0_seed=0'", "rounds=2"]
    assert branch_from.as_typed(["-m", "branch.from=sw/1_policy=reset,seed=1,sw/plain"]) == ["-m", "branch.from='sw/1_policy=reset,seed=1',sw/plain"]
    kept = ["branch.from=sw/plain", "branch.from='sw/0_seed=0'", "branch.from=glob(sw/*)", "branch.from=[a,b]", "seed=0,1"]
    assert [branch_from.as_typed([arg]) for arg in kept] == [[arg] for arg in kept]
    assert branch_from.as_typed(["branch.from=nowhere/0_seed=0"]) == ["branch.from='nowhere/0_seed=0'"]  # the branch says no run is there


def test_a_sweep_directory_stands_for_its_completed_jobs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    sweep = tmp_path / "sw"
    for name, status in (("0_seed=0", "completed"), ("1_seed=1", "failed"), ("10_seed=10", "completed"), ("2_seed=2", "completed")):
        (sweep / name).mkdir(parents=True)
        (sweep / name / "summary.json").write_text(json.dumps({"status": status}))
    (sweep / "3_link").symlink_to(sweep / "0_seed=0")  # a branch job's link is no parent
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    assert branch_from.as_typed(["branch=reinit", "branch.from=sw"]) == [
        "--multirun", "branch=reinit", "branch.from='sw/0_seed=0','sw/2_seed=2','sw/10_seed=10'"]
    assert "branch.from=sw is a sweep: one job per completed job in it (3)" in capsys.readouterr().err
    for name in ("0_seed=0", "2_seed=2", "10_seed=10"):
        (sweep / name / "summary.json").write_text(json.dumps({"status": "running"}))
    with pytest.raises(ConfigError, match="branch.from=sw is a sweep directory with no completed job to branch from"):
        branch_from.as_typed(["branch.from=sw"])


# ---------------------------------------------------------------- through rlth-run
@pytest.mark.slow
def test_a_swept_run_is_branched_by_the_directory_name_the_tool_printed(swept, cli, tmp_path, monkeypatch):
    sweep, printed = swept
    shutil.copytree(sweep, tmp_path / "sw", symlinks=True)
    monkeypatch.chdir(tmp_path)
    job = Path(printed[0]).relative_to(sweep.parent)  # sw/0_seed=0, as a user types it from the sweep's parent folder
    assert str(job) == "sw/0_seed=0"

    code, out, err = cli("branch=reinit", f"branch.from={job}", "hardware.num_threads=1")

    assert code == 0, err
    branch = tmp_path / job / "branches" / "reinit"
    assert json.loads((branch / "summary.json").read_text())["status"] == "completed"
    assert masks(branch, 1).keys() == masks(tmp_path / job, 1).keys()
    assert all(torch.equal(masks(branch, 1)[n], masks(tmp_path / job, 1)[n]) for n in masks(branch, 1))


@pytest.mark.slow
def test_a_whole_sweep_is_branched_in_one_command(swept, cli, tmp_path, monkeypatch):
    sweep, _ = swept
    shutil.copytree(sweep, tmp_path / "sw", symlinks=True)
    shutil.copytree(tmp_path / "sw" / "1_seed=1", tmp_path / "sw" / "2_seed=2")  # a job that did not finish: not a parent
    summary = tmp_path / "sw" / "2_seed=2" / "summary.json"
    summary.write_text(json.dumps({**json.loads(summary.read_text()), "status": "interrupted"}))
    monkeypatch.chdir(tmp_path)

    code, out, err = cli("branch=reinit", "branch.from=sw", "hardware.num_threads=1", f"hydra.sweep.dir={tmp_path / 'branched'}")

    assert code == 0, err
    assert f"Sweep {tmp_path / 'branched'}: 2 jobs, 2 completed, 0 failed" in out
    for job in ("0_seed=0", "1_seed=1"):
        assert json.loads((tmp_path / "sw" / job / "branches" / "reinit" / "summary.json").read_text())["status"] == "completed"
    assert not (tmp_path / "sw" / "2_seed=2" / "branches").exists()
    links = sorted(p for p in (tmp_path / "branched").iterdir() if p.is_symlink())
    assert [p.resolve() for p in links] == [tmp_path / "sw" / job / "branches" / "reinit" for job in ("0_seed=0", "1_seed=1")]


@pytest.mark.slow
def test_a_branch_takes_its_parents_data_dir(cli, tmp_path, monkeypatch):
    from test_data import fake_mnist, write_mnist

    data = tmp_path / "my_data"
    write_mnist(data / "MNIST" / "raw", fake_mnist(n_train=40, n_test=12))
    monkeypatch.setenv("RLTH_DATA_DIR", str(tmp_path / "empty"))  # the default data directory holds nothing
    parent = tmp_path / "parent"
    assert cli(*PARENT, "dataset=mnist", "dataset.val_size=8", "dataset.download=false", f"paths.data_dir={data}",
               f"hydra.run.dir={parent}")[0] == 0

    code, _, err = cli("branch=reinit", f"branch.from={parent}", "hardware.num_threads=1")

    assert code == 0, err
    assert f"data_dir: {data}\n" in (parent / "branches" / "reinit" / ".hydra" / "config.yaml").read_text()
    assert json.loads((parent / "branches" / "reinit" / "summary.json").read_text())["status"] == "completed"
    # a command that sets it wins: here, the empty default
    code, _, err = cli("branch=retrain", f"branch.from={parent}", f"paths.data_dir={tmp_path / 'empty'}")
    assert code == 2 and "dataset mnist is not in" in error_line(err)
