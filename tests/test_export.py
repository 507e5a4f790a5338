"""`rlth-export` on a real run, through the installed console script: the round
trip into a program that never imports rlth_runner, rlth_runner.load_ticket,
the files' documented names, the report's columns, and one line (exit 2) for
each bad input."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# Slow tier (real runs exported through the real script: about 25 s), so that `make test` stays under 3 minutes.
pytestmark = pytest.mark.slow
import torch
from omegaconf import OmegaConf
from safetensors.torch import load_file, save_file

from conftest import FAST, rlth_run

import rlth_runner
from rlth_runner.data import load_dataset
from rlth_runner.export.ticket import load_compact

DOCS = Path(__file__).resolve().parents[1] / "docs" / "export.md"
ROUNDS = 3


def rlth_export(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("rlth-export")
    return subprocess.run([str(exe), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "RLTH_DEBUG": "0"})


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A finished digits run; policy=rewind, so that the ticket holds theta_k too."""
    cwd = tmp_path_factory.mktemp("export")
    run_dir = cwd / "run"
    rlth_run(*FAST, f"rounds={ROUNDS}", "pruner.sparsity=0.5", "policy=rewind", "policy.step=2", "hardware.num_threads=1",
             f"hydra.run.dir={run_dir}", cwd=cwd)
    return run_dir


@pytest.fixture(scope="module")
def exported(run) -> tuple[Path, subprocess.CompletedProcess]:
    proc = rlth_export(run, "--onnx", "--bench", cwd=run.parent)
    assert proc.returncode == 0, proc.stderr
    return run / "export" / f"round_{ROUNDS - 1}", proc


@pytest.fixture(scope="module")
def test_split(run) -> tuple[torch.Tensor, torch.Tensor]:
    cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
    return load_dataset(cfg.dataset, str(run.parent)).test


def record(run: Path, k: int = ROUNDS - 1) -> dict:
    return json.loads((run / "rounds" / f"round_{k}" / "metrics.json").read_text())


def plain_loader() -> str:
    """The loader docs/export.md gives: its first python block."""
    return re.search(r"```python\n(.*?)```", DOCS.read_text(), re.S).group(1)


def test_a_program_without_rlth_runner_gets_the_records_test_accuracy(run, exported, test_split, tmp_path):
    out, _ = exported
    x, y = test_split
    save_file({"x": x.contiguous(), "y": y.contiguous()}, str(tmp_path / "test.safetensors"))
    script = plain_loader() + f"""
import sys
data = load_file({str(tmp_path / "test.safetensors")!r})
for compact in (False, True):
    logits = load_ticket({str(out)!r}, compact=compact)(data["x"])
    print(int((logits.argmax(1) == data["y"]).sum()))
assert not any(m.startswith("rlth_runner") for m in sys.modules), "the loader imported rlth_runner"
"""
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    correct = round(record(run)["test_acc"] * len(y))
    assert [int(n) for n in proc.stdout.split()] == [correct, correct]


def test_load_ticket_rebuilds_the_network_of_the_round(run, exported, test_split):
    out, _ = exported
    x, y = test_split
    with torch.no_grad():
        for net in (rlth_runner.load_ticket(out), rlth_runner.load_ticket(out / "ticket.json"), load_compact(out)):
            assert int((net(x).argmax(1) == y).sum()) == round(record(run)["test_acc"] * len(y))


def test_the_ticket_holds_every_tensor_under_its_documented_name(run, exported):
    out, _ = exported
    tensors = load_file(str(out / "ticket.safetensors"))
    weights = torch.load(run / "rounds" / f"round_{ROUNDS - 1}" / "weights.pt", weights_only=True)
    layer_masks = torch.load(run / "rounds" / f"round_{ROUNDS - 1}" / "mask.pt", weights_only=True)
    init = torch.load(run / "init.pt", weights_only=True)
    rewind = torch.load(run / "rewind.pt", weights_only=True)
    for name, value in weights.items():
        if not name.endswith("weight_mask"):
            assert torch.equal(tensors[f"trained/{name}"], value)
    for layer, mask in layer_masks.items():
        assert tensors[f"mask/{layer}.weight"].dtype == torch.bool and torch.equal(tensors[f"mask/{layer}.weight"], mask)
        assert not tensors[f"trained/{layer}.weight"][~mask].any()  # pruned weights are zero
    assert all(torch.equal(tensors[f"init/{n}"], v) for n, v in init.items() if not n.endswith("weight_mask"))
    assert all(torch.equal(tensors[f"rewind/{n}"], v) for n, v in rewind["state"].items() if not n.endswith("weight_mask"))
    assert {n.split("/")[0] for n in tensors} == {"trained", "mask", "init", "rewind"}

    info = json.loads((out / "ticket.json").read_text())
    assert info["record"] == record(run) and info["round"] == ROUNDS - 1
    assert info["fingerprint"] == json.loads((run / "fingerprint.json").read_text())
    assert info["architecture"] == json.loads((run / "rounds" / f"round_{ROUNDS - 1}" / "arch.json").read_text())
    assert info["tensors"]["rewind_step"] == 2
    assert {"rlth_runner", "torch", "safetensors", "onnx", "onnxruntime"} <= info["versions"].keys()


def test_onnx_and_benchmark_are_recorded(exported):
    out, proc = exported
    info = json.loads((out / "ticket.json").read_text())
    assert (out / "compact.onnx").stat().st_size == info["onnx"]["bytes"]
    forms = info["bench"]["forms"]
    assert set(forms) == {"dense", "masked_dense", "compact", "csr"}
    for form in forms.values():  # numbers, never judged: wall-clock time depends on the machine
        assert form["latency_ms"] > 0 and form["throughput"] > 0
    assert forms["compact"]["file_bytes"] == (out / "compact.safetensors").stat().st_size
    assert "no CUDA GPU" in info["bench"]["two_four"].get("skipped", "no CUDA GPU") or "two_four_throughput" in info["bench"]["two_four"]
    assert "csr" in proc.stdout and proc.stderr == ""


def test_rlth_report_shows_the_speed_ups_of_an_exported_round(run, exported, tmp_path):
    from rlth_runner.report.cli import main as report

    assert report([str(run), "--out", str(tmp_path)]) == 0
    table = (tmp_path / "summary.md").read_text()
    assert "CSR speed-up x (batch 256)" in table and "compacted speed-up x (batch 256)" in table


def one_line_error(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rlth-export: error: "), proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    for word in words:
        assert word in lines[0], lines[0]


def test_a_missing_run_or_a_directory_that_is_not_one(tmp_path):
    one_line_error(rlth_export(tmp_path / "nowhere", cwd=tmp_path), "does not exist")
    one_line_error(rlth_export(tmp_path, cwd=tmp_path), "is not a run directory")


def test_a_round_that_is_not_finished_or_does_not_exist(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("export", "tensorboard"))
    (copy / "rounds" / f"round_{ROUNDS - 1}" / "metrics.json").unlink()  # as a round still training
    one_line_error(rlth_export(copy, "--round", ROUNDS - 1, cwd=tmp_path), f"round {ROUNDS - 1}", "is not finished")
    one_line_error(rlth_export(copy, "--round", 7, cwd=tmp_path), "round 7", "does not exist", "rounds 0-1")


def test_a_damaged_artifact(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("export", "tensorboard"))
    with open(copy / "rounds" / "round_1" / "weights.pt", "ab") as f:
        f.write(b"\0")
    one_line_error(rlth_export(copy, "--round", 1, cwd=tmp_path), "weights.pt", "bytes")
    assert rlth_export(copy, "--round", 0, "--out", tmp_path / "r0", cwd=tmp_path).returncode == 0  # the other rounds are intact


def test_an_out_that_cannot_be_written(run, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    one_line_error(rlth_export(run, "--out", blocker / "sub", cwd=tmp_path), "--out", "cannot be created")


@pytest.mark.slow
def test_a_grown_network_exports_with_its_inserted_layers(tmp_path):
    """policy=grow inserts identity-initialised layers: the ticket describes them in the
    network's order, compaction keeps them as layers, and both forms give the record's accuracy."""
    run_dir = tmp_path / "grow"
    rlth_run(*FAST, "rounds=3", "policy=grow", "model.hidden_layers=0", "pruner.sparsity=0.5", "hardware.num_threads=1",
             f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert rlth_export(run_dir, cwd=tmp_path).returncode == 0
    out = run_dir / "export" / "round_2"
    info = json.loads((out / "ticket.json").read_text())
    assert info["architecture"]["hidden"] == ["h0", "h1"]
    assert [op["layer"] for op in info["forward"] if op["op"] == "linear"] == ["input", "hidden.h0", "hidden.h1", "output"]
    assert {"hidden.h0", "hidden.h1"} <= info["compact"]["units"].keys()
    namespace: dict = {}
    exec(plain_loader(), namespace)
    x, y = load_dataset(OmegaConf.load(run_dir / ".hydra" / "config.yaml").dataset, str(tmp_path)).test
    correct = round(record(run_dir)["test_acc"] * len(y))
    with torch.no_grad():
        for net in (rlth_runner.load_ticket(out), namespace["load_ticket"](out), namespace["load_ticket"](out, compact=True)):
            assert int((net(x).argmax(1) == y).sum()) == correct


def test_a_failed_export_leaves_no_empty_folders_behind(tmp_path):
    from rlth_runner.export.source import check_out, remove_empty

    (tmp_path / "a").mkdir()
    made = check_out(tmp_path / "a" / "b" / "c")
    assert made == [tmp_path / "a" / "b" / "c", tmp_path / "a" / "b"]
    remove_empty(made)
    assert list(tmp_path.iterdir()) == [tmp_path / "a"] and not any((tmp_path / "a").iterdir())
