"""Bad input: exit code 2 and one line `rlth-run: error: <key>=<value> ...`, no
traceback, and no run directory left behind (or nothing new in an existing one).
Sections follow the issues' lists of cases (1-11, then 12-16: "Lose nothing at all").

Most tests call `rlth-run`'s entry point in this process (`cli` below): about
0.25 s each, Hydra's composition twice; a few run the console script for errors
that stop before torch is imported (about 0.5 s each), and checks of single
values change a config composed once. The fast tier has one CLI test per case;
variants of the same path are marked slow.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf, open_dict

from conftest import FAST, rlth_run
from rlth_runner.cluster import sweeps
from rlth_runner.config import ConfigError, validate
from rlth_runner.entry import invocation as invocation_module, main as cli_module
from rlth_runner.entry.conf import CONFIG_DIR
from rlth_runner.entry.invocation import Invocation

NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="the error of a machine without a usable GPU")
TINY = [*FAST, "rounds=1", "train.max_steps=2", "model.width=8"]


@pytest.fixture(scope="module")
def composed():
    """The default config, composed once: tests of single values change a copy (composing costs 0.1 s)."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        base = compose(config_name="config", overrides=["paths.output_dir=unused"])

    def with_values(**values):
        cfg = copy.deepcopy(base)
        with open_dict(cfg):
            for key, value in values.items():
                OmegaConf.update(cfg, key.replace("__", "."), value, force_add=True)
        return cfg

    return with_values


@pytest.fixture
def cli(monkeypatch, capsys):
    """`rlth-run ARGS` in this process: (exit code, stdout, stderr)."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level

    # A sweep announces its swept keys and concurrency in the environment (sweeps.py): undone after the test.
    for key in (sweeps.SWEPT_ENV, sweeps.CONCURRENT_ENV, sweeps.SWEEP_ID_ENV):
        monkeypatch.setenv(key, "")
        monkeypatch.delenv(key)

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["rlth-run", *args])
        capsys.readouterr()
        try:
            cli_module.main()
            code = 0
        except SystemExit as exit:
            code = exit.code
        finally:  # Hydra points the root logger at this test's captured stdout and run directory
            for handler in root.handlers:
                if handler not in saved_handlers:
                    handler.close()
            root.handlers[:] = saved_handlers
            root.setLevel(saved_level)
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    HydraConfig.instance().cfg = None


def one_line(stderr: str, start: str) -> str:
    """The single line of `stderr`, which must start with `rlth-run: error: <start>`."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"rlth-run: error: {start}"), lines[0]
    return lines[0]


def tree(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under `root` with its mtime and content."""
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(root.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- 1. run directories that cannot be made or written
def test_run_dir_under_a_file_is_one_line_before_torch(tmp_path):
    # e.g. hydra.run.dir=/etc/passwd/x
    parent = tmp_path / "notes.txt"
    parent.write_text("not a directory\n")
    proc = rlth_run(f"hydra.run.dir={parent / 'x'}", cwd=tmp_path, check=False)
    assert proc.returncode == 2
    line = one_line(proc.stderr, f"hydra.run.dir={parent / 'x'} cannot be created: {parent} is a file, not a directory")
    assert "choose a directory" in line
    assert proc.stdout == ""


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux /proc")
def test_run_dir_that_cannot_be_created_is_one_line(cli):
    code, _, err = cli("hydra.run.dir=/proc/rlth-run-test/x")
    assert code == 2
    one_line(err, "hydra.run.dir=/proc/rlth-run-test/x cannot be created in /proc: ")
    assert not Path("/proc/rlth-run-test").exists()


@pytest.mark.parametrize("how", ["chmod", "simulated"])
def test_read_only_run_dir_is_one_line(cli, tmp_path, monkeypatch, how):
    locked = tmp_path / "locked"
    locked.mkdir()
    if how == "chmod":
        if os.geteuid() == 0:
            pytest.skip("root writes anywhere")
        locked.chmod(0o555)
    else:  # what a read-only file system looks like to a process that may write anywhere else
        monkeypatch.setattr(invocation_module, "writable", lambda path: path != locked)
    try:
        code, _, err = cli(f"hydra.run.dir={locked}")
    finally:
        locked.chmod(0o755)
    assert code == 2
    one_line(err, f"hydra.run.dir={locked} is not writable")
    assert list(locked.iterdir()) == []


@pytest.mark.slow
def test_sweep_dir_that_cannot_be_created_is_one_line(cli, tmp_path):
    (tmp_path / "file").write_text("")
    code, _, err = cli("-m", "seed=1,2", f"hydra.sweep.dir={tmp_path / 'file' / 'sweep'}")
    assert code == 2
    one_line(err, f"hydra.sweep.dir={tmp_path / 'file' / 'sweep'} cannot be created: {tmp_path / 'file'} is a file")


# ---------------------------------------------------------------- 2. GPU hardware on a machine without one
@NO_GPU
@pytest.mark.parametrize("hardware", ["gpu", pytest.param("gpu_bf16", marks=pytest.mark.slow)])
def test_gpu_hardware_without_a_gpu_is_one_line_before_the_data(cli, tmp_path, monkeypatch, hardware):
    def no_loading(*args, **kwargs):
        raise AssertionError("the data was loaded before the hardware was checked")

    monkeypatch.setattr("rlth_runner.run.prepare.load_dataset", no_loading)
    code, _, err = cli(f"hardware={hardware}", f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 2
    line = one_line(err, "hardware.accelerator=gpu: no GPU is usable on this machine")
    assert "use hardware=cpu, or hardware=auto" in line
    assert not (tmp_path / "run").exists()


def test_hardware_auto_trains_on_a_gpu_if_usable_else_the_cpu(cli, tmp_path):
    code, _, err = cli("hardware=auto", *TINY, f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 0, err
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "completed"
    from rlth_runner.data.load import device_for

    assert device_for("auto").type == ("cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu")


def test_hardware_check_names_what_the_gpu_lacks(composed, monkeypatch):
    from rlth_runner.cluster import hardware

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "Old GPU")
    hardware.check(composed(hardware__accelerator="gpu").hardware)  # one GPU, 32-bit: fine
    with pytest.raises(ConfigError, match=r"^hardware.devices=2: this machine has 1 usable GPU; use hardware.devices=1 or less$"):
        hardware.check(composed(hardware__accelerator="gpu", hardware__devices=2).hardware)
    with pytest.raises(ConfigError, match=r"^hardware.precision=bf16-mixed: Old GPU has no bfloat16 support; use hardware=gpu"):
        hardware.check(composed(hardware__accelerator="gpu", hardware__precision="bf16-mixed").hardware)
    hardware.check(composed(hardware__precision="bf16-mixed").hardware)  # the CPU is asked nothing


# ---------------------------------------------------------------- 3. hardware values
def test_num_threads_must_be_an_integer_of_at_least_one_or_null(cli, tmp_path):
    code, _, err = cli("hardware.num_threads=-1", f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 2
    one_line(err, "hardware.num_threads=-1 must be an integer >= 1 or null")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("value", [0, "abc", 1.5, True])
def test_num_threads_values(composed, value):
    with pytest.raises(ConfigError, match=rf"^hardware.num_threads={value!r} must be an integer >= 1 or null$".replace(".", r"\.")):
        validate(composed(hardware__num_threads=value))


def test_other_hardware_values_are_checked_before_torch(composed):
    validate(composed(hardware__num_threads=2))
    validate(composed(hardware__num_threads=None))
    validate(composed(hardware__accelerator="auto"))
    with pytest.raises(ConfigError, match=r"^hardware.accelerator='tpu' is not one of: cpu, gpu, cuda, mps, auto$"):
        validate(composed(hardware__accelerator="tpu"))
    with pytest.raises(ConfigError, match=r"^hardware.precision=16 is not one of: 32-true, "):
        validate(composed(hardware__precision=16))
    with pytest.raises(ConfigError, match=r"^hardware.devices=0 must be an integer >= 1$"):
        validate(composed(hardware__devices=0))


# ---------------------------------------------------------------- 4. config files that do not parse
def test_yaml_that_does_not_parse_names_the_file_before_torch(tmp_path):
    (tmp_path / "conf" / "model").mkdir(parents=True)
    bad = tmp_path / "conf" / "model" / "bad.yaml"
    bad.write_text("_target_: rlth_runner.models.mlp.MLP\nwidth: [1, 2\n")
    proc = rlth_run("--config-dir", str(tmp_path / "conf"), "model=bad", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path, check=False)
    assert proc.returncode == 2
    line = one_line(proc.stderr, f"{bad} is not valid YAML: expected ',' or ']', but got '<stream end>' at line 3, column 1")
    assert line.endswith("(while parsing a flow sequence at line 2, column 8)")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("text, problem", [("name: x\n\twidth: 3\n", "found character '\\t' that cannot start any token"),
                                           ("name: x\nname: y\n", "found duplicate key name")])
def test_other_yaml_errors_name_the_file(cli, tmp_path, text, problem):
    (tmp_path / "conf" / "dataset").mkdir(parents=True)
    (tmp_path / "conf" / "dataset" / "bad.yaml").write_text(text)
    code, _, err = cli("--config-dir", str(tmp_path / "conf"), "dataset=bad", f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 2
    assert problem in one_line(err, f"{tmp_path / 'conf' / 'dataset' / 'bad.yaml'} is not valid YAML: ")
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- 5. group files without _target_ (or name)
def test_model_file_without_target_is_one_line(cli, tmp_path):
    (tmp_path / "conf" / "model").mkdir(parents=True)
    (tmp_path / "conf" / "model" / "mine.yaml").write_text("name: mine\nwidth: 3\n")
    code, _, err = cli("--config-dir", str(tmp_path / "conf"), "model=mine", f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 2
    one_line(err, "model._target_ is missing: a model file needs `_target_: package.Class` (what to build), "
                  "e.g. _target_: rlth_runner.models.mlp.MLP")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("group, change, start", [
    ("dataset", {"_target_": None}, "dataset._target_ is missing: a dataset file needs `_target_: package.Class`"),
    ("model", {"_target_": "MLP"}, "model._target_='MLP' must be a dotted import path such as rlth_runner.models.mlp.MLP"),
    ("model", {"name": None}, "model.name=None: a model file needs `name: <its name>`"),
    ("dataset", {"name": None}, "dataset.name=None: a dataset file needs `name: <its name>`"),
])
def test_group_files_name_their_target_and_themselves(composed, group, change, start):
    cfg = composed()
    with open_dict(cfg):
        for key, value in change.items():
            if value is None:
                del cfg[group][key]
            else:
                cfg[group][key] = value
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    assert str(err.value).startswith(start), err.value


@pytest.mark.slow
def test_target_that_cannot_be_imported_is_one_line(cli, tmp_path):
    (tmp_path / "conf" / "model").mkdir(parents=True)
    (tmp_path / "conf" / "model" / "mine.yaml").write_text("_target_: rlth_runner.models.nope.Nope\nname: mine\n")
    code, _, err = cli("--config-dir", str(tmp_path / "conf"), "model=mine", f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 2
    assert "No module named 'rlth_runner.models.nope'" in one_line(err, "model._target_=rlth_runner.models.nope.Nope cannot be imported: ")
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- 6. held-out splits larger than the data
def test_val_size_beyond_the_training_set_is_a_bad_input(cli, tmp_path):
    code, _, err = cli("dataset.val_size=100000", f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 2
    one_line(err, "dataset.val_size=100000 must be less than the 1,437 training examples of digits (allowed: 0..1436;")
    assert not (tmp_path / "run").exists()


def test_loaders_name_the_key_and_the_allowed_range():
    from rlth_runner.data import DataError
    from rlth_runner.data.bundle import hold_out
    from rlth_runner.data.digits import load_digits
    from rlth_runner.data.teacher import load_teacher

    with pytest.raises(ConfigError, match=r"^dataset.test_size=1797 must be less than the 1,797 examples of digits \(allowed: 1..1796;"):
        load_digits(test_size=1797)
    with pytest.raises(ConfigError, match=r"^dataset.val_size=1437 must be less than the 1,437 training examples of digits"):
        load_digits(val_size=1437)
    # mnist, fashion_mnist and cifar10 hold their validation split out through image_bundle -> hold_out
    x, y = torch.zeros(10, 1, 2, 2), torch.zeros(10, dtype=torch.long)
    with pytest.raises(ConfigError, match=r"^dataset.val_size=10 must be less than the 10 training examples of cifar10 \(allowed: 0..9;") as err:
        hold_out("cifar10", x, y, 10, 0)
    assert isinstance(err.value, DataError)  # what the runner and older callers catch
    assert len(hold_out("cifar10", x, y, 9, 0)[0][0]) == 1
    with pytest.raises(ConfigError, match=r"^dataset.val_size=0 must be >= 1: dataset=teacher draws that many examples$"):
        load_teacher(val_size=0)


# ---------------------------------------------------------------- 7. numbers that are not finite
def test_learning_rate_must_be_a_finite_number_above_zero(cli, tmp_path):
    code, _, err = cli("train.lr=inf", f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 2
    one_line(err, "train.lr=inf must be a number > 0 and finite")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("key, value, start", [
    ("train.lr", float("nan"), "train.lr=nan must be a number > 0 and finite"),
    ("train.lr", float("-inf"), "train.lr=-inf must be a number > 0 and finite"),
    ("train.lr", 0, "train.lr=0 must be a number > 0 and finite"),
    ("train.momentum", float("nan"), "train.momentum=nan must be a number >= 0 and finite"),
    ("train.weight_decay", float("inf"), "train.weight_decay=inf must be a number >= 0 and finite"),
    ("stop.compression", float("inf"), "stop.compression=inf must be a number >= 1 and finite, or null"),
    ("stop.compression", float("nan"), "stop.compression=nan must be a number >= 1 and finite, or null"),
    ("pruner.sparsity", float("nan"), "pruner.sparsity=nan must be in [0, 1)"),
    ("verify.tolerance", float("nan"), "verify.tolerance=nan must be in [0, 1]"),
    ("pruner.layer_rates", {"output": float("nan")}, "pruner.layer_rates.output=nan must be in [0, 1)"),
    ("dataset.noise", float("nan"), "dataset.noise=nan must be a number >= 0 and finite"),
])
def test_numbers_must_be_finite(composed, key, value, start):
    with pytest.raises(ConfigError) as err:
        validate(composed(**{key.replace(".", "__"): value}))
    assert str(err.value).startswith(start), err.value


def test_an_interpolation_that_does_not_resolve_names_its_key(composed):
    with pytest.raises(ConfigError, match=r"^train\.lr=\$\{nowhere\}: Interpolation key 'nowhere' not found$"):
        validate(composed(train__lr="${nowhere}"))


# ---------------------------------------------------------------- 8. a rewind step beyond round 0
def test_rewind_step_beyond_round_zero_writes_nothing(cli, tmp_path):
    code, _, err = cli("policy=rewind", "policy.step=999999", f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 2
    one_line(err, "policy.step=999999 (step 999999) is beyond round 0's length of 200 steps")
    assert not (tmp_path / "run").exists()  # so neither init.pt nor summary.json


# ---------------------------------------------------------------- 9. no run directory left behind
def test_config_error_leaves_no_outputs_directory(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("rounds=0")
    assert code == 2
    one_line(err, "rounds=0 must be an integer >= 1")
    assert list(tmp_path.iterdir()) == []  # not even outputs/


@pytest.mark.slow
def test_config_error_leaves_an_existing_outputs_directory_as_it_was(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "outputs" / "old").mkdir(parents=True)
    code, _, _ = cli("rounds=0")
    assert code == 2
    assert [p.name for p in (tmp_path / "outputs").iterdir()] == ["old"]


def fake_run(root: Path) -> dict:
    """A run directory with results of an earlier invocation; returns its files."""
    (root / ".hydra").mkdir(parents=True)
    (root / ".hydra" / "config.yaml").write_text("seed: 0\n")
    (root / "rounds" / "round_0").mkdir(parents=True)
    (root / "rounds" / "round_0" / "metrics.json").write_text("{}\n")
    (root / "summary.json").write_text('{"status": "completed"}\n')
    (root / "init.pt").write_bytes(b"weights")
    (root / "rlth.log").write_text("an earlier run\n")
    return tree(root)


@pytest.mark.parametrize("bad", [pytest.param(["rounds=0"], marks=pytest.mark.slow), ["policy=rewind", "policy.step=999999"]],
                         ids=["before torch", "after torch"])
def test_failed_command_in_an_existing_run_leaves_its_files_alone(cli, tmp_path, bad):
    run_dir = tmp_path / "run"
    before = fake_run(run_dir)
    code, _, err = cli(*bad, f"hydra.run.dir={run_dir}")
    assert code == 2
    one_line(err, bad[-1].partition("=")[0])
    after = tree(run_dir)
    # Besides the log, only the runner's lock (rundir.py), taken once torch is up, may be new: every run has one.
    assert {k: v for k, v in after.items() if k not in ("rlth.log", ".lock")} == {k: v for k, v in before.items() if k != "rlth.log"}
    assert after["rlth.log"][1].startswith(before["rlth.log"][1])
    assert not (run_dir / ".hydra" / "invocations").exists()
    assert {p.name for p in run_dir.iterdir() if not p.name.startswith(".")} == {"rounds", "summary.json", "init.pt", "rlth.log"}


@pytest.mark.slow
def test_a_bad_value_in_every_job_of_a_sweep_is_recorded_by_each_and_tallied(cli, tmp_path):
    # A sweep's jobs may run anywhere: each records its own failure (tests/test_sweeps.py has one failing cell of three).
    code, out, err = cli("-m", "rounds=0", "seed=1,2", f"hydra.sweep.dir={tmp_path / 'sweep'}")
    assert code == 1 and "Traceback" not in err
    assert "2 jobs, 0 completed, 2 failed" in err
    for job in ("0_seed=1", "1_seed=2"):
        summary = json.loads((tmp_path / "sweep" / job / "summary.json").read_text())
        assert summary["status"] == "failed" and summary["error"].startswith("rounds=0 must be an integer >= 1")
        assert f"  failed: {job}: rounds=0 must be an integer >= 1" in err


def test_clean_up_never_removes_a_directory_with_results(tmp_path, monkeypatch):
    # The guard itself: a directory this command created, holding a result, stays whole.
    out = tmp_path / "run"
    (out / ".hydra").mkdir(parents=True)
    (out / ".hydra" / "config.yaml").write_text("seed: 0\n")
    (out / "summary.json").write_text("{}\n")
    invocation = Invocation(started_ns=0, created=[out])
    assert invocation.holds_new_results(out, set())
    (out / "summary.json").unlink()
    (out / "rlth.log").write_text("")
    assert not invocation.holds_new_results(out, {out / "rlth.log"})


# ---------------------------------------------------------------- 10. .hydra/ of an existing run is never overwritten
def test_rerun_keeps_the_runs_hydra_config(cli, tmp_path):
    run_dir = tmp_path / "run"
    assert cli(*TINY, "seed=3", f"hydra.run.dir={run_dir}")[0] == 0
    first = tree(run_dir / ".hydra")
    assert cli(*TINY, "seed=3", "rounds=2", f"hydra.run.dir={run_dir}")[0] == 0
    assert {k: v for k, v in tree(run_dir / ".hydra").items() if not k.startswith("invocations")} == first
    (copy,) = (run_dir / ".hydra" / "invocations").iterdir()
    assert sorted(p.name for p in copy.iterdir()) == ["config.yaml", "hydra.yaml", "overrides.yaml"]
    assert "rounds=2" in (copy / "overrides.yaml").read_text() and "rounds=2" not in (run_dir / ".hydra" / "overrides.yaml").read_text()


@pytest.mark.slow
def test_sweep_keeps_each_jobs_earlier_hydra_config(cli, tmp_path):
    sweep = tmp_path / "sweep"
    (sweep / "0_seed=1" / ".hydra").mkdir(parents=True)
    (sweep / "0_seed=1" / ".hydra" / "config.yaml").write_text("an earlier invocation's config\n")
    assert cli("-m", *TINY, "seed=1,2", f"hydra.sweep.dir={sweep}")[0] == 0
    assert (sweep / "0_seed=1" / ".hydra" / "config.yaml").read_text() == "an earlier invocation's config\n"
    (copy,) = (sweep / "0_seed=1" / ".hydra" / "invocations").iterdir()
    assert "seed: 1" in (copy / "config.yaml").read_text()
    assert "seed: 2" in (sweep / "1_seed=2" / ".hydra" / "config.yaml").read_text()  # a new job directory: .hydra/ as usual
    assert not (sweep / "1_seed=2" / ".hydra" / "invocations").exists()


def test_hydra_subdir_is_decided_once_per_directory_and_unique(tmp_path, monkeypatch):
    invocation = Invocation()
    assert invocation.hydra_subdir(str(tmp_path)) == ".hydra"
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text("")
    assert invocation.hydra_subdir(str(tmp_path)) == ".hydra"  # asked again after Hydra wrote it: the same answer
    monkeypatch.setattr(invocation_module, "stamp", lambda: "2026-01-01_00-00-00")
    assert Invocation().hydra_subdir(str(tmp_path)) == ".hydra/invocations/2026-01-01_00-00-00"
    (tmp_path / ".hydra" / "invocations" / "2026-01-01_00-00-00").mkdir(parents=True)
    assert Invocation().hydra_subdir(str(tmp_path)) == ".hydra/invocations/2026-01-01_00-00-00_2"


# ---------------------------------------------------------------- 11. a NaN loss
def test_nan_loss_is_one_line_and_status_failed(cli, tmp_path):
    run_dir = tmp_path / "run"
    code, _, err = cli(*TINY, "train.optimizer=sgd", "train.lr=1e30", f"hydra.run.dir={run_dir}")
    assert code == 1
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("rlth-run: error:")]
    assert len(errors) == 1 and "loss became nan" in errors[0], err
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "failed" and "loss became" in summary["error"]
    assert (run_dir / ".hydra" / "config.yaml").exists()  # a run with results keeps everything


# ---------------------------------------------------------------- Hydra's own errors, and the traceback on request
def test_unknown_option_is_one_line_exit_2(cli, tmp_path):
    code, _, err = cli("policy=nope", f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 2
    assert one_line(err, "In 'config': Could not find 'policy/nope'").endswith(
        "the options in 'policy' are: finetune, grow, lr_rewind, random_mask, reinit, reset, rewind")
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_unknown_key_and_bad_flags_are_one_line_exit_2(cli, tmp_path):
    code, _, err = cli("trian.epochs=3", f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 2
    one_line(err, "trian.epochs=3: trian.epochs is not a key rlth-run reads; did you mean train.epochs?")
    code, _, err = cli("--resolve")
    assert code == 2
    one_line(err, "The --resolve flag can only be used in conjunction with --cfg or --help")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args", [pytest.param(["rounds=0"], marks=pytest.mark.slow), ["policy=rewind", "policy.step=999999"],
                                  pytest.param(["model=nope"], marks=pytest.mark.slow), pytest.param(["hydra.run.dir=FILE/run"], marks=pytest.mark.slow)],
                         ids=["value", "after torch", "hydra", "callback"])
def test_rlth_debug_prints_the_traceback_before_the_line(cli, tmp_path, monkeypatch, args):
    monkeypatch.setenv("RLTH_DEBUG", "1")
    (tmp_path / "file").write_text("")
    args = [a.replace("FILE", str(tmp_path / "file")) for a in args]
    code, _, err = cli(*args, *([] if args[-1].startswith("hydra.run.dir") else [f"hydra.run.dir={tmp_path / 'run'}"]))
    assert code == 2
    assert err.startswith("Traceback") and err.strip().splitlines()[-1].startswith("rlth-run: error: "), err
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_hydra_full_error_is_left_as_it_was(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "0")  # what conftest's rlth_run sets
    assert cli("rounds=0", f"hydra.run.dir={tmp_path / 'run'}")[0] == 2
    assert os.environ["HYDRA_FULL_ERROR"] == "0"


# ---------------------------------------------------------------- 12. model dimensions that make no network
def test_a_zero_width_is_one_line_before_anything_is_written(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("model.width=0")
    assert code == 2
    one_line(err, "model.width=0 must be an integer >= 1: the units of every hidden layer (a layer of zero units makes no network)")
    assert out == "" and list(tmp_path.iterdir()) == []  # not even outputs/


@pytest.mark.parametrize("model, values, start", [
    ("mlp", {"width": -3}, "model.width=-3 must be an integer >= 1"),
    ("mlp", {"hidden_layers": -1}, "model.hidden_layers=-1 must be an integer >= 0"),
    ("rlth_mlp", {"width": 0}, "model.width=0 must be an integer >= 1"),
    ("rlth_resnet", {"width": 0}, "model.width=0 must be an integer >= 1: the channels"),
    ("rlth_resnet", {"stem_kernel": 0}, "model.stem_kernel=0 must be an integer >= 1"),
    ("resnet20", {"width": 0}, "model.width=0 must be an integer >= 1"),
    ("resnet20", {"depth": 21}, "model.depth=21 must be 6n+2 with n >= 1"),
    ("student", {"width": 0}, "model.width=0 must be an integer >= 1: the student's neurons"),
    ("conv2", {"convs": [64, 0]}, "model.convs=[64, 0] must be a nonempty list of integers >= 1"),
    ("conv2", {"convs": []}, "model.convs=[] must be a nonempty list of integers >= 1"),
    ("conv4", {"convs": [64, 64, 128]}, "model.convs=[64, 64, 128] must list an even number of widths"),
    ("conv2", {"fcs": [256, 0]}, "model.fcs=[256, 0] must be a list of integers >= 1"),
    ("vgg16", {"depth": 11}, "model.depth=11 is not one of: 16, 19"),
])
def test_every_model_dimension_is_checked_from_the_config(model, values, start):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"model={model}", "paths.output_dir=unused"])
    validate(cfg)  # the model's own file is fine
    with open_dict(cfg):
        for key, value in values.items():
            cfg.model[key] = value
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    assert str(err.value).startswith(start), err.value


def test_the_vgg_depths_are_the_models_plans():
    from rlth_runner.config.model_dims import VGG_DEPTHS
    from rlth_runner.models.vgg import PLANS

    assert VGG_DEPTHS == tuple(sorted(PLANS))


# ---------------------------------------------------------------- 13. a key rlth-run never reads
@pytest.mark.parametrize("added, start", [
    ("+train.lrr=0.1", "+train.lrr=0.1: train.lrr is not a key rlth-run reads, so the run would ignore it; did you mean train.lr? "
                       "(set a key rlth-run has without the +: train.lr=0.1)"),
    ("+foo=1", "+foo=1: foo is not a key rlth-run reads, so the run would ignore it; `rlth-run --cfg job` prints every key"),
])
def test_a_key_added_with_plus_that_nothing_reads_is_refused(cli, tmp_path, monkeypatch, added, start):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(added)
    assert code == 2
    one_line(err, start)
    assert out == "" and list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_sweep_with_a_key_nothing_reads_stops_before_any_job(cli, tmp_path):
    code, _, err = cli("-m", "+train.lrr=0.1,0.2", f"hydra.sweep.dir={tmp_path / 'sweep'}")
    assert code == 2
    one_line(err, "+train.lrr=0.1,0.2: train.lrr is not a key rlth-run reads")
    assert not (tmp_path / "sweep").exists()


def test_keys_added_with_plus_that_rlth_run_reads_are_kept(tmp_path):
    """What README, docs/ and the presets do with +: keys of another option of the group, layer-name
    patterns under a key that holds them, a key forced with ++, Hydra's own keys and config groups."""
    from rlth_runner.config import known_keys

    repository = known_keys.repository_of([CONFIG_DIR])
    known_keys.check(["+pruner.layer_rates.output=0.5", "++train.lr=0.01", "+model.convs=[8,8]", "+policy.step=5",
                      "+dataset.augment=true", "+hydra.job.env_set.X=1", "+experiment=frankle_lenet300", "+hydra/launcher=joblib",
                      "seed=1", "~stop.accuracy"], repository)
    known = known_keys.schema(repository)
    assert {"train.lr", "train.schedule.warmup_steps", "pruner.layer_rates", "dataset.d", "branch.from", "stop.on_divergence"} <= known.keys
    # A --config-dir adds its options' keys.
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "mine.yaml").write_text("_target_: my.Net\nname: mine\ndepth_mult: 2\n")
    known_keys.check(["+model.depth_mult=3"], known_keys.repository_of([str(tmp_path), CONFIG_DIR]))
    with pytest.raises(ConfigError, match=r"^\+model.depth_mul=3: model.depth_mul is not a key .* did you mean model.depth_mult\?"):
        known_keys.check(["+model.depth_mul=3"], known_keys.repository_of([str(tmp_path), CONFIG_DIR]))


# ---------------------------------------------------------------- 14. missing data, a model that does not fit it
def test_missing_data_is_a_bad_input(cli, tmp_path):
    code, _, err = cli("dataset=mnist", "dataset.download=false", f"paths.data_dir={tmp_path / 'data'}", f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 2
    line = one_line(err, "dataset mnist is not in")
    assert "train-images-idx3-ubyte" in line
    assert not (tmp_path / "run").exists()


def test_a_model_that_does_not_fit_the_data_is_a_bad_input(cli, tmp_path):
    code, _, err = cli("dataset=teacher", "model=conv2", f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 2
    one_line(err, "model=conv2 does not fit dataset=teacher")
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- 15. a run directory another process is using
def test_a_run_directory_in_use_is_a_bad_input_that_leaves_it_alone(cli, tmp_path):
    from rlth_runner.storage.lock import hold

    run_dir = tmp_path / "run"
    before = fake_run(run_dir)
    with hold(run_dir / ".lock", run_dir):  # this test process plays the other one
        before = tree(run_dir)
        code, _, err = cli(*TINY, f"hydra.run.dir={run_dir}")
    assert code == 2
    line = one_line(err, f"{run_dir} is in use by PID {os.getpid()} on host ")
    assert line.endswith("wait for it to finish, or use another hydra.run.dir")
    after = tree(run_dir)
    assert {k: v for k, v in after.items() if k != "rlth.log"} == {k: v for k, v in before.items() if k != "rlth.log"}
    assert not (run_dir / ".hydra" / "invocations").exists()  # the refused command's copy of the config went too


def test_a_sweep_job_another_process_holds_is_reported_not_run_and_not_counted(cli, tmp_path):
    from rlth_runner.storage.lock import hold

    sweep = tmp_path / "sweep"
    held = sweep / "0_seed=1"
    held.mkdir(parents=True)
    (held / "summary.json").write_text('{"status": "running"}\n')  # the other process's
    with hold(held / ".lock", held):
        code, out, err = cli("-m", *TINY, "seed=1,2", f"hydra.sweep.dir={sweep}")
    assert code == 1 and "Traceback" not in err
    mine = [line for line in err.splitlines() if line.startswith("rlth-run:")]
    assert len(mine) == 1 and mine[0].startswith(f"rlth-run: 0_seed=1: not run: {held} is in use by PID {os.getpid()}"), err
    assert f"Sweep {sweep}: 2 jobs, 1 completed, 0 failed, 1 not run: in use by another process (0_seed=1)" in err
    assert (held / "summary.json").read_text() == '{"status": "running"}\n'  # never written by the refused job
    assert json.loads((sweep / "1_seed=2" / "summary.json").read_text())["status"] == "completed"
    assert not (sweep / ".rlth").exists()  # the sweep's ledger of its jobs goes once the tally is printed
