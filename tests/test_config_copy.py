"""Hydra's copy of a run's config (.hydra/config.yaml) under the checksum ledger (run/config_copy.py):
a damaged copy is named, moved aside and restored from the run's saved command; a branch off a
parent it cannot use (a damaged copy, no pruned round) writes nothing into the parent."""

from __future__ import annotations

import logging

import pytest

from test_bad_input import cli  # noqa: F401 - a fixture
from test_branching_as_typed import PARENT, error_line, tree
from rlth_runner.run import config_copy
from rlth_runner.storage.rundir import RunDir

TEXT = "seed: 0\nrounds: 2\npaths:\n  output_dir: ${hydra:runtime.output_dir}\n"


def made(tmp_path) -> RunDir:
    run_dir = RunDir(tmp_path / "run")
    run_dir.config_path.parent.mkdir(parents=True)
    run_dir.config_path.write_text(TEXT)
    config_copy.check(run_dir, None)  # the first invocation records it
    assert ".hydra/config.yaml" in run_dir.ledger.entries()
    return run_dir


@pytest.mark.parametrize("damage", ["truncated", "edited", "deleted"])
def test_a_damaged_copy_is_named_moved_aside_and_restored_as_it_was(tmp_path, caplog, damage):
    run_dir = made(tmp_path)
    if damage == "deleted":
        run_dir.config_path.unlink()
    else:
        run_dir.config_path.write_text("" if damage == "truncated" else TEXT.replace("seed: 0", "seed: 1"))
    with caplog.at_level(logging.WARNING, "rlth_runner"):
        config_copy.check(run_dir, lambda: TEXT)
    assert run_dir.config_path.read_text() == TEXT
    [warning] = [r.getMessage() for r in caplog.records]
    assert warning.startswith(".hydra/config.yaml ") and warning.endswith(" and restored it from the run's saved command"), warning
    kept = list((run_dir.root / "damaged").rglob("config.yaml"))
    assert len(kept) == (damage != "deleted") and [p.read_text() for p in kept] in ([], [""], [TEXT.replace("seed: 0", "seed: 1")])


def test_a_copy_the_saved_command_no_longer_makes_is_not_restored(tmp_path, caplog):
    run_dir = made(tmp_path)
    run_dir.config_path.write_text("")
    with caplog.at_level(logging.WARNING, "rlth_runner"):
        config_copy.check(run_dir, lambda: TEXT.replace("rounds: 2", "rounds: 3"))
    assert run_dir.config_path.read_text() == "" and not (run_dir.root / "damaged").exists()
    assert ("it cannot be restored (the saved command now composes another config (conf/ changed since the run was made)), "
            "so it stays as it is") in caplog.text


def test_a_whole_copy_is_left_alone_and_a_run_without_one_records_nothing(tmp_path):
    run_dir = made(tmp_path)
    before = run_dir.checksums_path.read_bytes()
    config_copy.check(run_dir, lambda: pytest.fail("a whole copy is never composed again"))
    assert run_dir.checksums_path.read_bytes() == before
    bare = RunDir(tmp_path / "bare")
    config_copy.check(bare, None)
    assert not bare.checksums_path.exists()


# ---------------------------------------------------------------- through rlth-run
@pytest.mark.slow
def test_a_truncated_copy_is_restored_by_the_rerun_and_then_branched_off(cli, tmp_path):
    run = tmp_path / "run"
    assert cli(*PARENT, f"hydra.run.dir={run}")[0] == 0
    original = run.joinpath(".hydra", "config.yaml").read_bytes()
    run.joinpath(".hydra", "config.yaml").write_bytes(b"")
    before = tree(run)

    code, _, err = cli("branch=reinit", f"branch.from={run}")  # the parent's copy is damaged: no branch yet
    assert code == 2
    assert error_line(err) == (f"rlth-run: error: branch.from={run}: .hydra/config.yaml has 0 bytes, not the {len(original):,} written; "
                               f"run the parent's own command again (rlth-run resume={run}) to restore it, then branch")
    assert tree(run) == before

    code, out, err = cli(*PARENT, f"hydra.run.dir={run}")  # the same command again
    assert code == 0, err
    assert f".hydra/config.yaml has 0 bytes, not the {len(original):,} written; moved it to {run}/damaged/" in out + err
    assert run.joinpath(".hydra", "config.yaml").read_bytes() == original
    assert "Round 0 already done" in out + err  # nothing trained again

    code, _, err = cli("branch=reinit", f"branch.from={run}", "hardware.num_threads=1")
    assert code == 0, err
    assert (run / "branches" / "reinit" / "rounds" / "round_1" / "metrics.json").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("bad", ["damaged", "round 0 only", "a sweep with one bad parent"])
def test_a_branch_off_an_unusable_parent_is_one_line_and_changes_nothing_in_it(cli, tmp_path, bad):
    good, parent = tmp_path / "good", tmp_path / "parent"
    assert cli(*PARENT, f"hydra.run.dir={parent}", *(["rounds=1"] if bad == "round 0 only" else []))[0] == 0
    if bad == "damaged":
        parent.joinpath(".hydra", "config.yaml").write_text("seed: [\n")
    args = ["branch=reinit", f"branch.from={parent}"]
    if bad == "a sweep with one bad parent":
        assert cli(*PARENT, f"hydra.run.dir={good}")[0] == 0
        parent.joinpath(".hydra", "config.yaml").write_text("")
        args = ["-m", "branch=reinit,retrain", f"branch.from={good},{parent}", f"hydra.sweep.dir={tmp_path / 'branched'}"]
    before = {p: tree(p) for p in (good, parent) if p.exists()}

    code, out, err = cli(*args)

    assert code == 2
    line = error_line(err)
    assert line.startswith(f"rlth-run: error: branch.from={parent}"), line
    assert ("has no finished pruned round" if bad == "round 0 only" else "to restore it, then branch") in line
    assert {p: tree(p) for p in before} == before
    assert not (tmp_path / "branched").exists()
