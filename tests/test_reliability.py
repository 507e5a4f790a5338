"""A run directory holds exactly what its config says: settings fingerprint,
lock, integrity of every artifact a resume uses, a completed summary never
replaced by a worse one, and a TensorBoard summary run rebuilt from the
round records. In process on digits (the CLI's exit codes: tests/test_signals.py)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import Killed, all_scalars, kill_after_checkpoint
from rlth_runner.config import ConfigError
from rlth_runner.run.runner import RunError, run

BASE = ("rounds=4",)


def snapshot(root: Path) -> dict:
    """Every file's content hash, except the lock's holder line."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".lock"}


def rounds_of(out: Path) -> list[dict]:
    drop = lambda r: {k: v for k, v in r.items() if k != "seconds"}  # noqa: E731
    return [drop(r) for r in json.loads((out / "summary.json").read_text())["rounds"]]


def weights(out: Path, k: int) -> dict:
    return torch.load(out / "rounds" / f"round_{k}" / "weights.pt", weights_only=True)


def same_weights(a: Path, b: Path, rounds: int) -> bool:
    return all(wa.keys() == (wb := weights(b, k)).keys() and all(torch.equal(wa[n], wb[n]) for n in wa)
               for k in range(rounds) for wa in [weights(a, k)])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A finished 4-round run to damage (copied per test) and an uninterrupted 5-round one."""
    from hydra import compose, initialize_config_dir

    from conftest import FAST
    from rlth_runner.entry.conf import CONFIG_DIR

    root = tmp_path_factory.mktemp("reliability")

    def cfg(out, *extra):
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            return compose(config_name="config", overrides=[*FAST, f"paths.output_dir={out}", *extra])

    run(cfg(root / "four", *BASE))
    run(cfg(root / "five", "rounds=5"))
    return root, cfg


def copy_of_four(runs, tmp_path) -> Path:
    root, _ = runs
    out = tmp_path / "run"
    shutil.copytree(root / "four", out)
    return out


# ------------------------------------------------------------------ fingerprint

@pytest.mark.parametrize("override, key", [
    ("seed=5", "seed=0 (this command: 5)"),
    ("policy=reinit", 'policy.name="reset" (this command: "reinit")'),
    ("pruner.sparsity=0.5", "pruner.sparsity=0.2 (this command: 0.5)"),
    ("model.width=64", "model.width=32 (this command: 64)"),
    ("train.epochs=3", "train.epochs=1 (this command: 3)"),
])
def test_other_settings_are_refused_and_nothing_changes(runs, tmp_path, override, key):
    out = copy_of_four(runs, tmp_path)
    before = snapshot(out)
    with pytest.raises(ConfigError) as err:
        run(runs[1](out, *BASE, override))
    message = str(err.value)
    assert "\n" not in message and "holds a run made with other settings" in message and key in message
    assert "use a new hydra.run.dir" in message
    assert snapshot(out) == before


def test_a_run_made_before_a_key_existed_continues_only_at_the_value_it_ran_with():
    from rlth_runner.config import fingerprint

    stored = {"seed": 0}  # an older version's fingerprint: no hardware.strategy, no hardware.deterministic
    assert fingerprint.differences(stored, {"seed": 0, "hardware.strategy": "auto", "hardware.deterministic": False}) == []
    assert fingerprint.differences(stored, {"seed": 0, "hardware.strategy": "ddp"}) == ['hardware.strategy=unset (this command: "ddp")']
    assert fingerprint.differences(stored, {"seed": 0, "train.new_key": 1}) == ["train.new_key=unset (this command: 1)"]


def test_a_safe_extension_continues_the_run(runs, tmp_path):
    _, cfg = runs
    out, six = copy_of_four(runs, tmp_path), tmp_path / "six"
    run(cfg(six, "rounds=6"))
    run(cfg(out, "rounds=6", "stop.density=0.01", "train.log_every_n_steps=4", "checkpoint.min_interval_s=5"))
    assert rounds_of(out) == rounds_of(six)
    assert same_weights(out, six, 6)


def test_rounds_decide_the_masks_of_the_target_schedule(runs, tmp_path):
    _, cfg = runs
    out = tmp_path / "target"
    run(cfg(out, "rounds=2", "pruner.schedule=target"))
    with pytest.raises(ConfigError, match=r"pruner.target_rounds=1 \(this command: 3\)"):
        run(cfg(out, "rounds=4", "pruner.schedule=target"))


# ------------------------------------------------------------------ lock

HOLD = """
import sys, time
from rlth_runner.storage.rundir import RunDir
with RunDir(sys.argv[1]).lock():
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_second_process_stops_at_once_naming_the_holder(runs, tmp_path):
    out = copy_of_four(runs, tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = snapshot(out)
        started = time.monotonic()
        with pytest.raises(RunError) as err:
            run(runs[1](out, "rounds=5"))
        assert time.monotonic() - started < 30  # at once: it does not wait for the holder
        assert f"is in use by PID {holder.pid} on host " in str(err.value) and "\n" not in str(err.value)
        assert snapshot(out) == before
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_left_by_a_killed_process_is_taken_over(runs, tmp_path):
    root, cfg = runs
    out = copy_of_four(runs, tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert f"PID {holder.pid}" in (out / ".lock").read_text()  # its note is still there
    run(cfg(out, "rounds=5"))
    assert rounds_of(out) == rounds_of(root / "five")
    assert f"PID {os.getpid()}" in (out / ".lock").read_text()


# ------------------------------------------------------------------ integrity

def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def swap_from_another_run(path: Path, other: Path) -> None:
    shutil.copy(other, path)


@pytest.mark.parametrize("damage, target, message", [
    ("truncate", "rounds/round_1/weights.pt", "rounds/round_1/weights.pt has"),
    ("truncate", "rounds/round_3/weights.pt", "rounds/round_3/weights.pt has"),
    ("truncate", "rounds/round_2/mask.pt", "rounds/round_2/mask.pt has"),
    ("truncate", "init.pt", "init.pt has"),
    ("delete", "rounds/round_3/weights.pt", "rounds/round_3/weights.pt is missing"),
    ("garbage", "rounds/round_2/metrics.json", "rounds/round_2/metrics.json"),
    ("garbage", "rounds/round_3/arch.json", "rounds/round_3/arch.json"),
    ("swap", "rounds/round_3/weights.pt", "rounds/round_3/weights.pt does not match the checksum"),
])
def test_a_damaged_artifact_is_named_moved_aside_and_rebuilt(runs, tmp_path, caplog, damage, target, message):
    root, cfg = runs
    out = copy_of_four(runs, tmp_path)
    path = out / target
    if damage == "truncate":
        truncate(path)
    elif damage == "delete":
        path.unlink()
    elif damage == "garbage":
        path.write_text("{ not json")
    else:  # the same round of a run with another seed
        other = tmp_path / "other"
        run(cfg(other, *BASE, "seed=3"))
        swap_from_another_run(path, other / target)

    with caplog.at_level(logging.WARNING, logger="rlth_runner"):
        run(cfg(out, "rounds=5"))
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any(message in w for w in warnings), warnings
    assert len([w for w in warnings if message in w]) == 1 and all("\n" not in w for w in warnings)
    # The fallback rebuilt exactly the uninterrupted run, and the damaged file was kept.
    assert rounds_of(out) == rounds_of(root / "five")
    assert same_weights(out, root / "five", 5)
    assert json.loads((out / "summary.json").read_text())["status"] == "completed"
    kept = list((out / "damaged").rglob(Path(target).name)) + list((out / "damaged").rglob(Path(target).parent.name))
    assert kept, "the damaged artifact is moved to damaged/, not deleted"


def test_a_completed_summary_is_never_replaced_by_a_worse_one(runs, tmp_path, monkeypatch):
    from rlth_runner.training.tasks import Classifier

    out = copy_of_four(runs, tmp_path)
    completed = json.loads((out / "summary.json").read_text())
    (out / "rounds" / "round_3" / "metrics.json").unlink()  # round 3 must be trained again ...
    measure = Classifier.measure
    monkeypatch.setattr(Classifier, "measure", lambda self, b: (measure(self, b)[0] * float("nan"), *measure(self, b)[1:]))
    with pytest.raises(RunError, match="loss became"):  # ... and fails
        run(runs[1](out, *BASE))
    now = json.loads((out / "summary.json").read_text())
    assert {k: v for k, v in now.items() if k != "last_attempt"} == completed
    assert now["last_attempt"]["status"] == "failed" and now["last_attempt"]["rounds"] == 3


# ------------------------------------------------------------------ TensorBoard

def summary_steps(out: Path) -> dict[str, list[int]]:
    acc = EventAccumulator(str(out / "tensorboard" / "summary"))
    acc.Reload()
    return {tag: [e.step for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_the_summary_run_has_each_round_once_after_any_resume(runs, tmp_path):
    root, cfg = runs
    out = copy_of_four(runs, tmp_path)
    shutil.rmtree(out / "tensorboard" / "summary")  # killed before the round's points were written
    (out / "rounds" / "round_2" / "metrics.json").unlink()  # round 2 is trained again
    run(cfg(out, "rounds=5"))
    steps = summary_steps(out)
    assert steps and all(s == [0, 1, 2, 3, 4] for s in steps.values()), steps
    assert steps == summary_steps(root / "five")
    assert len(list((out / "tensorboard" / "summary").iterdir())) == 1


# ------------------------------------------------------------------ checkpoints inside a round

def test_a_round_killed_after_a_checkpoint_resumes_from_it_exactly(runs, tmp_path, monkeypatch, caplog):
    _, cfg = runs
    args = ("rounds=3", "train.epochs=4", "train.max_steps=null", "checkpoint.min_interval_s=0", "train.eval_every_n_steps=7")
    straight, out = tmp_path / "straight", tmp_path / "run"
    run(cfg(straight, *args))

    kill_after_checkpoint(monkeypatch, "round_1", epoch=1)  # after epoch 2 of round 1, with more epochs to go
    with pytest.raises(Killed):
        run(cfg(out, *args))
    assert (out / "rounds" / "round_1" / "checkpoint.ckpt").exists()
    monkeypatch.undo()
    with caplog.at_level(logging.INFO, logger="rlth_runner"):
        run(cfg(out, *args))
    assert any("Round 1: resuming from its checkpoint at step" in r.getMessage() for r in caplog.records)
    assert rounds_of(out) == rounds_of(straight)  # early-stop and best-validation state included
    assert same_weights(out, straight, 3)
    assert all_scalars(out) == all_scalars(straight), "no duplicate or missing TensorBoard point"
    assert not list((out / "rounds").rglob("checkpoint.ckpt")), "a finished round keeps no checkpoint"


def test_short_rounds_take_no_checkpoint(runs, tmp_path, monkeypatch):
    from rlth_runner.storage.rundir import RunDir

    saved = []
    monkeypatch.setattr(RunDir, "save_checkpoint", lambda self, k, write: saved.append(k))
    run(runs[1](tmp_path / "run", "rounds=2", "train.epochs=3", "train.max_steps=null"))  # well under min_interval_s
    assert saved == []


def test_artifacts_get_the_usual_file_mode(runs):
    root, _ = runs
    mask = os.umask(0)
    os.umask(mask)
    expected = 0o666 & ~mask  # what open() gives, not mkstemp's private 0600
    for name in ("summary.json", "init.pt", "rounds/round_0/weights.pt", "rounds/round_0/metrics.json"):
        assert (root / "four" / name).stat().st_mode & 0o777 == expected, name


@pytest.mark.parametrize("override, needle", [
    ("checkpoint.every_n_epochs=0", "checkpoint.every_n_epochs=0 must be an integer >= 1 or null"),
    ("checkpoint.min_interval_s=-1", "checkpoint.min_interval_s=-1"),
])
def test_checkpoint_values_are_checked(make_cfg, override, needle):
    from rlth_runner.config import validate

    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        validate(make_cfg(override))


def test_a_checkpoint_replaced_but_not_yet_recorded_is_checked_by_loading(tmp_path, monkeypatch):
    # Killed between the rename and the new checksum entry: the new checkpoint must not be refused for the old entry.
    import torch

    from rlth_runner.storage.rundir import RunDir

    run_dir = RunDir(tmp_path / "run")
    run_dir.save_checkpoint(1, lambda path: torch.save({"global_step": 5}, path))
    monkeypatch.setattr(RunDir, "_written", lambda self, *paths: None)  # the kill: no entry for the second one
    run_dir.save_checkpoint(1, lambda path: torch.save({"global_step": 10}, path))
    monkeypatch.undo()
    assert run_dir.checkpoint(1)[1] == 10


@pytest.mark.slow  # two 3-round runs
def test_a_round_killed_after_a_checkpoint_inside_an_epoch_resumes_from_that_step_exactly(runs, tmp_path, monkeypatch, caplog):
    from rlth_runner.training.round_checkpoint import RoundCheckpoint

    _, cfg = runs
    args = ("rounds=3", "train.epochs=3", "train.max_steps=null", "checkpoint.min_interval_s=0", "checkpoint.every_n_epochs=null",
            "checkpoint.every_n_steps=5", "train.eval_every_n_steps=7", "train.log_every_n_steps=2")
    straight, out = tmp_path / "straight", tmp_path / "run"
    run(cfg(straight, *args))

    write, written = RoundCheckpoint._write, []

    def killed(self, trainer):
        write(self, trainer)
        if trainer.logger.version == "round_1":
            written.append((trainer.global_step, trainer.current_epoch, trainer.num_training_batches))
            if trainer.current_epoch == 1:  # the first save inside the second epoch
                raise Killed

    monkeypatch.setattr(RoundCheckpoint, "_write", killed)
    with pytest.raises(Killed):
        run(cfg(out, *args))
    monkeypatch.undo()
    step, _, batches = written[-1]
    # every 5 steps, but for the epoch's last batch: its epoch end is still to run
    assert [s for s, _, _ in written] == [s for s in range(5, step + 1, 5) if s != batches] and 0 < step - batches < batches
    saved = torch.load(out / "rounds" / "round_1" / "checkpoint.ckpt", weights_only=False)
    assert saved["global_step"] == step
    assert saved["loops"]["fit_loop"]["state_dict"]["combined_loader"] == [{"epoch": 1, "position": step - batches}]
    with caplog.at_level(logging.INFO, logger="rlth_runner"):
        run(cfg(out, *args))
    assert any(f"Round 1: resuming from its checkpoint at step {step} " in r.getMessage() for r in caplog.records)
    assert rounds_of(out) == rounds_of(straight)
    assert same_weights(out, straight, 3)
    assert all_scalars(out) == all_scalars(straight), "no duplicate or missing TensorBoard point"


@pytest.mark.parametrize("override, needle", [("checkpoint.every_n_steps=0", "checkpoint.every_n_steps=0 must be an integer >= 1 or null")])
def test_the_step_interval_is_checked(make_cfg, override, needle):
    from rlth_runner.config import validate

    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        validate(make_cfg(override))
