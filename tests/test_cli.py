"""The real `rlth-run` console script, run in tmp_path as a user would.

One run that trains (`cli_run`, shared by the tests that read its output) is
the fast tier's CLI smoke test; the other calls exit before torch is imported."""

import json
import math

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import FAST, rlth_run

ROUND_KEYS = {"round", "density", "params_total", "params_nonzero", "val_acc", "test_acc", "train_steps"}


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("cli")
    run_dir = cwd / "run"
    proc = rlth_run(*FAST, "rounds=4", "pruner.sparsity=0.3", f"hydra.run.dir={run_dir}", cwd=cwd)
    return proc, run_dir


def test_run_prints_the_round_table(cli_run):
    proc, _ = cli_run
    assert "weights left %" in proc.stdout and "test acc %" in proc.stdout
    rows = [line.split() for line in proc.stdout.split("weights left %")[1].splitlines()[2:6]]
    assert [row[0] for row in rows] == ["0", "1", "2", "3"]
    assert [float(row[1]) for row in rows] == pytest.approx([100.0, 70.0, 49.0, 34.3], abs=0.05)
    summary = json.loads((cli_run[1] / "summary.json").read_text())
    assert [int(row[6]) for row in rows] == [r["hidden_layers"] for r in summary["rounds"]]
    assert [int(row[7].replace(",", "")) for row in rows] == [r["macs"] for r in summary["rounds"]]


def test_summary_json_has_the_stable_keys(cli_run):
    _, run_dir = cli_run
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert [r["round"] for r in summary["rounds"]] == [0, 1, 2, 3]
    for r in summary["rounds"]:
        assert ROUND_KEYS <= r.keys()
        assert 0 <= r["val_acc"] <= 1 and 0 <= r["test_acc"] <= 1
        assert r["train_steps"] == 8
        assert r["params_nonzero"] < r["params_total"] or r["round"] == 0
    assert (run_dir / ".hydra" / "config.yaml").exists()


def test_density_follows_one_minus_p_to_the_k(cli_run):
    _, run_dir = cli_run
    summary = json.loads((run_dir / "summary.json").read_text())
    masks = torch.load(run_dir / "rounds" / "round_0" / "mask.pt", weights_only=True)
    total = sum(m.numel() for m in masks.values())
    for r in summary["rounds"]:
        expected = 0.7 ** r["round"]
        # each layer rounds to the nearest whole weight
        assert abs(r["density"] - expected) * total <= len(masks)
        layer_masks = torch.load(run_dir / "rounds" / f"round_{r['round']}" / "mask.pt", weights_only=True)
        for name, m in layer_masks.items():
            assert abs(int(m.sum()) - m.numel() * expected) <= 1, name


def test_tensorboard_holds_loss_and_accuracy_curves_per_round(cli_run):
    _, run_dir = cli_run
    for k in range(4):
        acc = EventAccumulator(str(run_dir / "tensorboard" / f"round_{k}"))
        acc.Reload()
        tags = set(acc.Tags()["scalars"])
        for tag in ("train/loss_step", "train/acc_step", "train/loss_epoch", "val/loss", "val/acc", "test/acc"):
            assert tag in tags, f"round {k} lacks {tag}: {sorted(tags)}"
        losses = [e.value for e in acc.Scalars("train/loss_step")]
        assert len(losses) >= 4 and all(math.isfinite(v) for v in losses)
    per_round = EventAccumulator(str(run_dir / "tensorboard" / "summary"))
    per_round.Reload()
    assert [e.step for e in per_round.Scalars("rounds/density")] == [0, 1, 2, 3]


def test_help_lists_groups_and_options(tmp_path):
    out = rlth_run("--help", cwd=tmp_path).stdout
    groups = {line.split(":")[0]: line.split(":")[1] for line in out.splitlines() if ": " in line and line.split(":")[0] in
              ("dataset", "policy", "pruner", "model", "hardware")}
    for group, option in (("dataset", "digits"), ("policy", "reset"), ("policy", "rewind"), ("policy", "grow"), ("pruner", "magnitude"),
                          ("pruner", "l1_filter"), ("model", "mlp"), ("hardware", "cpu")):
        assert option in groups[group].replace(",", " ").split(), (group, option)


def test_cfg_job_prints_the_composed_config(tmp_path):
    out = rlth_run("--cfg", "job", "seed=3", cwd=tmp_path).stdout
    assert "seed: 3" in out and "sparsity: 0.2" in out and "epochs:" in out


@pytest.mark.parametrize(
    "override, needle",
    [
        ("pruner.sparsity=1.0", "pruner.sparsity=1.0 must be in [0, 1)"),
        ("pruner.sparsity=-0.1", "pruner.sparsity=-0.1 must be in [0, 1)"),
        ("rounds=0", "rounds=0 must be an integer >= 1"),
        ("train.optimizer=lion", "train.optimizer='lion' is not one of: adam, adamw, sgd"),
    ],
)
def test_bad_values_fail_before_training_with_one_line(tmp_path, override, needle):
    proc = rlth_run(override, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"rlth-run: error: {needle}"), proc.stderr
    assert not (tmp_path / "run" / "summary.json").exists()


def test_unknown_key_and_unknown_option_are_rejected(tmp_path):
    proc = rlth_run("trian.epochs=3", cwd=tmp_path, check=False)
    assert proc.returncode != 0 and "trian" in proc.stderr
    proc = rlth_run("policy=nope", cwd=tmp_path, check=False)
    assert proc.returncode != 0 and "policy/nope" in proc.stderr and "reset" in proc.stderr


def test_round_table_marks_what_a_model_does_not_have():
    from rlth_runner.record import RoundRecord
    from rlth_runner.run.summary import format_table

    row = dict(density=1.0, layer_density={}, params_total=10, params_nonzero=10, val_acc=0.5, test_acc=0.5, test_loss=1.0, train_steps=3)
    lines = format_table([RoundRecord(round=0, hidden_layers=None, macs=None, **row), RoundRecord(round=1, hidden_layers=2, macs=1234, **row)]).splitlines()
    assert lines[2].split()[-2:] == ["-", "-"] and lines[3].split()[-2:] == ["2", "1,234"]
