"""Hydra multiruns (`rlth-run -m`): one directory per job, named by its swept
values; parallel and submitit launchers; a failed job that does not sink the
sweep; an Optuna search."""

import json
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from conftest import FAST, rlth_run
from test_bad_input import cli  # noqa: F401 - the fixture: `rlth-run ARGS` in this process
from rlth_runner.cluster import sweeps


def jobs_of(sweep) -> dict[str, dict]:
    return {p.name: json.loads((p / "summary.json").read_text()) for p in sweep.iterdir() if (p / "summary.json").exists()}


def hparams_row(job_dir) -> tuple[dict, dict]:
    """A run's row in TensorBoard's HPARAMS tab: its settings, and its metrics' last values."""
    acc = EventAccumulator(str(job_dir / "tensorboard" / "hparams"))
    acc.Reload()
    start = plugin_data_pb2.HParamsPluginData.FromString(acc.PluginTagToContent("hparams")["_hparams_/session_start_info"])
    settings = {k: getattr(v, v.WhichOneof("kind")) for k, v in start.session_start_info.hparams.items()}
    return settings, {tag: acc.Scalars(tag)[-1].value for tag in acc.Tags()["scalars"]}


def interval(summary: dict) -> tuple[datetime, datetime]:
    return datetime.fromisoformat(summary["started_at"]), datetime.fromisoformat(summary["finished_at"])


@pytest.mark.slow
def test_multirun_grid_writes_one_complete_run_per_job(tmp_path):
    sweep = tmp_path / "sweep"
    proc = rlth_run("-m", *FAST, "rounds=2", "seed=1,2", "pruner.sparsity=0.2,0.5", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    jobs = jobs_of(sweep)
    # named by the swept keys only, in the order Hydra numbers the jobs
    assert sorted(jobs) == ["0_seed=1,pruner.sparsity=0.2", "1_seed=1,pruner.sparsity=0.5",
                            "2_seed=2,pruner.sparsity=0.2", "3_seed=2,pruner.sparsity=0.5"]
    for name, summary in jobs.items():
        swept = summary["job"]["swept"]
        assert summary["status"] == "completed" and len(summary["rounds"]) == 2
        assert name.startswith(f"{summary['job']['num']}_") and summary["seed"] == int(swept["seed"])
        assert f"pruner.sparsity={swept['pruner.sparsity']}" in summary["overrides"] and "rounds=2" in summary["overrides"]
        assert summary["rounds"][1]["density"] == pytest.approx(1 - float(swept["pruner.sparsity"]), abs=1e-3)
        assert summary["threads"] >= 1
        assert all(r["early_stop_step"] is not None for r in summary["rounds"])  # the validation grid is on in sweeps
        settings, metrics = hparams_row(sweep / name)  # the HPARAMS tab lists the swept keys and the final metrics
        assert settings["seed"] == int(swept["seed"]) and settings["pruner.sparsity"] == pytest.approx(float(swept["pruner.sparsity"]))
        assert metrics["final/val_acc"] == pytest.approx(summary["rounds"][-1]["val_acc"])
        assert metrics["final/early_stop_step"] == summary["rounds"][-1]["early_stop_step"]
    assert "4 jobs, 4 completed, 0 failed" in proc.stdout


@pytest.mark.slow  # a real sweep of several jobs
def test_a_failed_job_does_not_sink_the_sweep(tmp_path):
    sweep = tmp_path / "sweep"
    proc = rlth_run("-m", *FAST, "rounds=2", "pruner.sparsity=0.2,1.5,0.5", f"hydra.sweep.dir={sweep}", cwd=tmp_path, check=False)
    assert proc.returncode == 1, proc.stderr
    jobs = jobs_of(sweep)
    assert sorted(jobs) == ["0_pruner.sparsity=0.2", "1_pruner.sparsity=1.5", "2_pruner.sparsity=0.5"]
    for name, left in (("0_pruner.sparsity=0.2", 0.8), ("2_pruner.sparsity=0.5", 0.5)):  # ran, after the failure too
        assert jobs[name]["status"] == "completed"
        assert jobs[name]["rounds"][1]["density"] == pytest.approx(left, abs=1e-3)
    failed = jobs["1_pruner.sparsity=1.5"]
    assert failed["status"] == "failed" and failed["rounds"] == []
    assert failed["error"].startswith("pruner.sparsity=1.5 must be in [0, 1)")
    assert "pruner.sparsity=1.5" in failed["overrides"]
    settings, metrics = hparams_row(sweep / "0_pruner.sparsity=0.2")
    assert settings["pruner.sparsity"] == pytest.approx(0.2) and settings["policy"] == "reset" and settings["seed"] == 0
    assert metrics["final/test_acc"] == pytest.approx(jobs["0_pruner.sparsity=0.2"]["rounds"][-1]["test_acc"])
    assert metrics["final/density"] == pytest.approx(0.8, abs=1e-3)
    assert metrics["final/dist_from_init"] == pytest.approx(jobs["0_pruner.sparsity=0.2"]["rounds"][-1]["dist_from_init"])
    assert "3 jobs, 2 completed, 1 failed" in proc.stderr
    assert "  failed: 1_pruner.sparsity=1.5: pruner.sparsity=1.5 must be in [0, 1)" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_a_nan_loss_fails_its_job_only(tmp_path):
    sweep = tmp_path / "sweep"
    proc = rlth_run("-m", *FAST, "rounds=1", "train.lr=0.001,1e30", f"hydra.sweep.dir={sweep}", cwd=tmp_path, check=False)
    assert proc.returncode == 1
    jobs = jobs_of(sweep)
    assert jobs["0_train.lr=0.001"]["status"] == "completed"
    failed = jobs["1_train.lr=1e+30"]  # Hydra writes the float its own way
    assert failed["status"] == "failed" and failed["error"].startswith("training loss became nan")
    assert "2 jobs, 1 completed, 1 failed" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_joblib_runs_two_jobs_at_once_with_a_share_of_the_cores_each(tmp_path):
    sweep = tmp_path / "sweep"
    # long enough (seconds) that two jobs running at once overlap whatever the workers' start-up jitter
    args = ["train.epochs=20", "model.width=32", "rounds=3", "seed=1,2", f"hydra.sweep.dir={sweep}"]
    proc = rlth_run("-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *args, cwd=tmp_path)
    jobs = jobs_of(sweep)
    assert sorted(jobs) == ["0_seed=1", "1_seed=2"]
    (start_a, end_a), (start_b, end_b) = interval(jobs["0_seed=1"]), interval(jobs["1_seed=2"])
    assert start_a < end_b and start_b < end_a, "the two jobs did not run at the same time"
    for summary in jobs.values():
        assert summary["status"] == "completed" and [r["density"] for r in summary["rounds"]] == pytest.approx([1, 0.8, 0.64], abs=1e-3)
        assert summary["threads"] == max(1, sweeps.cores() // 2)  # two jobs at once share the cores
        assert summary["rounds"][-1]["test_acc"] > 0.5
    assert "2 jobs, 2 completed, 0 failed" in proc.stdout


@pytest.mark.slow
def test_submitit_local_runs_a_real_two_job_sweep(tmp_path):
    sweep = tmp_path / "sweep"
    proc = rlth_run("-m", "hydra/launcher=submitit_local", *FAST, "rounds=2", "seed=1,2", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    jobs = jobs_of(sweep)
    assert sorted(jobs) == ["0_seed=1", "1_seed=2"]
    for name, summary in jobs.items():
        assert summary["status"] == "completed" and len(summary["rounds"]) == 2
        assert summary["seed"] == int(name[-1]) and summary["job"]["swept"] == {"seed": name[-1]}
        assert summary["threads"] == max(1, sweeps.cores() // 2)
    assert list((sweep / ".submitit").rglob("*_result.pkl")), "submitit did not run the jobs"
    assert "2 jobs, 2 completed, 0 failed" in proc.stdout


@pytest.mark.slow  # a real sweep of several jobs
def test_optuna_search_writes_its_best_parameters(tmp_path):
    sweep = tmp_path / "sweep"
    rlth_run("-m", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=4", "hydra.sweeper.direction=maximize", "hydra.sweeper.sampler.seed=0",
             "train.lr=interval(0.0001,0.01)", "optimized_metric=test_acc", *FAST, "rounds=1", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    jobs = jobs_of(sweep)
    assert len(jobs) == 4 and all(s["status"] == "completed" for s in jobs.values())
    best = max(jobs.values(), key=lambda s: s["rounds"][-1]["test_acc"])
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert results["best_value"] == pytest.approx(best["rounds"][-1]["test_acc"])
    assert f"train.lr={results['best_params']['train.lr']}" in best["overrides"]
    assert all(0.0001 <= float(s["job"]["swept"]["train.lr"]) <= 0.01 for s in jobs.values())


def test_job_names_keep_the_swept_keys_short_and_unique(monkeypatch):
    monkeypatch.setenv(sweeps.SWEPT_ENV, "seed,model.widths")
    assert sweeps.job_dir(3, ["rounds=2", "seed=1", "model.widths=[300, 100]"]) == "3_seed=1,model.widths=[300,_100]"
    long = ["seed=1", "model.widths=[" + ",".join(["1000"] * 40) + "]"]
    name = sweeps.job_dir(7, long)
    assert len(name) <= len("7_") + sweeps.NAME_LIMIT and name != sweeps.job_dir(7, [*long[:1], long[1].replace("1000]", "999]")])
    monkeypatch.setenv(sweeps.SWEPT_ENV, "")
    assert sweeps.job_dir(0, ["rounds=2"]) == "0"  # nothing swept: the number alone
    monkeypatch.delenv(sweeps.SWEPT_ENV)
    assert sweeps.job_dir(1, ["rounds=2", "dataset=a/b"]) == "1_rounds=2,dataset=a_b"  # unknown: every override, no '/'
    assert sweeps.job_dir(2, ["train.lr=0.0029046679269098073", "seed=12345678"]) == "2_train.lr=0.00290467,seed=12345678"


def test_the_tally_counts_failures_and_unfinished_jobs():
    tally = sweeps.tally({"10_a": {"status": "completed"}, "2_b": {"status": "failed", "error": "bad\nvalue"},
                          "3_c": {"status": "running"}, "4_d": {"status": "completed", "last_attempt": {"error": "NaN"}}, "5_e": None})
    assert tally.completed == ["10_a"] and tally.failed == {"2_b": "bad\nvalue", "4_d": "NaN"} and tally.unfinished == ["3_c", "5_e"]
    lines = tally.lines("S")
    assert lines[0] == "Sweep S: 5 jobs, 1 completed, 2 failed, 2 without a final status (3_c, 5_e)"
    assert lines[1:] == ["  failed: 2_b: bad value", "  failed: 4_d: NaN"]


def test_the_tally_lists_interrupted_jobs_and_jobs_not_started():
    tally = sweeps.tally({"0_a": {"status": "interrupted", "signal": "SIGTERM"}, "1_b": {"status": "completed"}, "3_d": None},
                         not_started={"3_d", "2_c"})
    assert tally.interrupted == ["0_a"] and tally.completed == ["1_b"] and tally.not_started == ["2_c", "3_d"] and not tally.ok
    assert tally.lines("S") == ["Sweep S: 4 jobs, 1 completed, 0 failed, 1 interrupted (0_a), 2 not started (2_c, 3_d)"]


def test_the_slurm_launcher_asks_for_one_task_per_device_and_requeues(tmp_path, monkeypatch):
    """The sbatch script submitit would submit for `hydra/launcher=slurm`, built from
    our config the way the Hydra plugin builds it (no SLURM here: a stand-in `srun`)."""
    import submitit
    from hydra import compose, initialize_config_dir
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from omegaconf import OmegaConf

    from rlth_runner.entry.conf import CONFIG_DIR

    (tmp_path / "srun").write_text("#!/bin/sh\n")
    (tmp_path / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{__import__('os').environ['PATH']}")
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("config", return_hydra_config=True, overrides=[
            "hydra/launcher=slurm", "hardware=ddp", "hardware.devices=4", "hydra.launcher.partition=gpu",
            "hydra.launcher.timeout_min=90", "hydra.launcher.signal_delay_s=300", f"hydra.sweep.dir={tmp_path / 'sweep'}"])
    params = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert params.pop("_target_").endswith("SlurmLauncher")
    executor = submitit.AutoExecutor(cluster="slurm", folder=params.pop("submitit_folder"), slurm_max_num_timeout=params.pop("max_num_timeout"))
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in params.items()})
    script = executor._executor._make_submission_file_text("python -u -m submitit.core._submit", "0")
    for line in ("--ntasks-per-node=4", "--gpus-per-node=4", "--cpus-per-task=8", "--partition=gpu", "--time=90",
                 "--signal=USR2@300", "--job-name=rlth", "--mem=32GB"):
        assert f"#SBATCH {line}\n" in script, line
    assert executor._executor.max_num_timeout == 20  # requeued after preemption or a time limit


def test_a_cell_that_does_not_compose_stops_the_sweep_before_any_job(tmp_path):
    proc = rlth_run("-m", *FAST, "policy=reset,bogus", f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("rlth-run: error: In 'config': Could not find 'policy/bogus'; the options")
    assert "Traceback" not in proc.stderr and not (tmp_path / "sweep").exists()


@pytest.mark.parametrize(("env", "copy"), [({"SLURM_NTASKS": "4", "SLURM_PROCID": "2"}, False), ({"RANK": "1"}, False),
                                           ({"SLURM_NTASKS": "4", "SLURM_PROCID": "0"}, True), ({}, True)])
def test_only_rank_0_of_a_multi_task_job_writes_hydras_copy_of_the_config(tmp_path, monkeypatch, env, copy):
    from rlth_runner.entry.invocation import Invocation

    for key in ("SLURM_NTASKS", "SLURM_PROCID", "RANK"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert Invocation().hydra_subdir(str(tmp_path)) == (".hydra" if copy else None)


@pytest.mark.slow
def test_two_sweeps_into_one_directory_each_tally_only_their_own_jobs(tmp_path):
    import os
    import subprocess
    import sys

    from conftest import wait_for

    sweep = tmp_path / "sweep"
    # The first sweep's one job is long enough (seconds) for the second sweep to start while it runs.
    args = ["-m", "rounds=6", "train.epochs=60", "model.width=32", "hardware.num_threads=1", "seed=choice(1)",
            f"hydra.sweep.dir={sweep}"]
    exe = str(Path(sys.executable).with_name("rlth-run"))
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    first = subprocess.Popen([exe, *args], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    wait_for(sweep / "0_seed=1" / "rounds" / "round_0" / "metrics.json", first)
    second = rlth_run(*args, cwd=tmp_path, check=False)
    out, err = first.communicate(timeout=600)

    # The second sweep's job was the first's: refused in one line, not counted, no traceback, exit 1.
    assert second.returncode == 1 and "Traceback" not in second.stderr, second.stderr
    mine = [line for line in second.stderr.splitlines() if line.startswith("rlth-run:")]
    assert len(mine) == 1 and mine[0].startswith(f"rlth-run: 0_seed=1: not run: {sweep / '0_seed=1'} is in use by PID {first.pid} on host ")
    assert f"Sweep {sweep}: 1 job, 0 completed, 0 failed, 1 not run: in use by another process (0_seed=1)" in second.stderr
    assert "completed" not in second.stdout

    # The first sweep ran it to the end, and its summary is its own.
    assert first.returncode == 0, err
    assert f"Sweep {sweep}: 1 job, 1 completed, 0 failed" in out and "not run" not in out + err
    summary = jobs_of(sweep)["0_seed=1"]
    assert summary["status"] == "completed" and len(summary["rounds"]) == 6 and "error" not in summary
    assert not (sweep / "0_seed=1" / ".hydra" / "invocations").exists()  # the refused command left no copy of its config
    assert not (sweep / ".rlth").exists()


def test_a_rerun_sweep_keeps_the_earlier_record_and_the_finished_jobs_summaries(cli, tmp_path):
    sweep = tmp_path / "sweep"
    tiny = ["train.epochs=1", "train.max_steps=2", "model.width=8", "rounds=1", f"hydra.sweep.dir={sweep}"]
    assert cli("-m", *tiny, "seed=1,2")[0] == 0
    first_record = (sweep / "multirun.yaml").read_text()
    summaries = {job: (sweep / job / "summary.json").read_bytes() for job in ("0_seed=1", "1_seed=2")}

    code, out, _ = cli("-m", *tiny, "seed=1,2")  # the same command again: every job is done
    assert code == 0 and f"Sweep {sweep}: 2 jobs, 2 completed, 0 failed" in out
    assert {job: (sweep / job / "summary.json").read_bytes() for job in summaries} == summaries  # started_at, finished_at kept
    assert sorted(p.name for p in sweep.glob("multirun*.yaml")) == ["multirun.yaml"]  # the same record: nothing to keep

    code, out, _ = cli("-m", *tiny, "seed=choice(1)")  # another grid into the same directory
    assert code == 0 and f"Sweep {sweep}: 1 job, 1 completed, 0 failed" in out  # its own job only
    (kept,) = [p for p in sweep.glob("multirun.*.yaml")]
    assert kept.read_text() == first_record and "seed=choice(1)" in (sweep / "multirun.yaml").read_text()
    assert {job: (sweep / job / "summary.json").read_bytes() for job in summaries} == summaries


def test_an_earlier_sweep_record_is_kept_only_when_the_new_one_differs(tmp_path):
    from rlth_runner.entry.invocation import Invocation

    sweep = tmp_path / "sweep"
    sweep.mkdir()
    for new, kept in (("grid: a\n", []), ("grid: b\n", ["grid: a\n"]), ("grid: b\n", ["grid: a\n"]), ("grid: a\n", ["grid: a\n", "grid: b\n"])):
        if not (sweep / "multirun.yaml").exists():
            (sweep / "multirun.yaml").write_text("grid: a\n")
            continue
        invocation = Invocation(sweep_dir=sweep)
        invocation.keep_sweep_record(sweep)  # before Hydra's sweeper writes its own
        (sweep / "multirun.yaml").write_text(new)
        invocation.drop_unchanged_sweep_record()  # after the sweep
        assert (sweep / "multirun.yaml").read_text() == new
        assert sorted(p.read_text() for p in sweep.glob("multirun.*.yaml")) == kept


@pytest.mark.slow
def test_a_sigterm_to_a_joblib_sweep_stops_every_job_and_leaves_no_process(tmp_path):
    import os
    import re
    import signal
    import subprocess
    import sys
    import time

    import torch

    from conftest import wait_for
    from rlth_runner.cluster.sweep_stop import descendants

    sweep = tmp_path / "sweep"
    args = ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "rounds=2", "train.epochs=5", "train.batch_size=4",
            "model.width=32", "hardware.num_threads=1", "seed=0,1,2,3", f"hydra.sweep.dir={sweep}"]
    exe = str(Path(sys.executable).with_name("rlth-run"))
    parent = subprocess.Popen([exe, *args], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for job in ("0_seed=0", "1_seed=1"):  # both running jobs are training
        wait_for(sweep / job / "tensorboard" / "round_0", parent, timeout=300)
    time.sleep(1.0)
    processes = descendants(parent.pid)
    assert len(processes) >= 2  # the two loky workers, and loky's resource trackers
    parent.send_signal(signal.SIGTERM)
    out, err = parent.communicate(timeout=300)
    deadline = time.monotonic() + 5
    while (left := [pid for pid in processes if os.path.exists(f"/proc/{pid}")]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left == [], "a process of the sweep outlived it"

    assert parent.returncode == 143, err
    assert "Traceback" not in err
    stopped = [line for line in err.splitlines() if "interrupted by SIGTERM" in line]
    assert len(stopped) == 2, err
    for job in ("0_seed=0", "1_seed=1"):
        summary = json.loads((sweep / job / "summary.json").read_text())
        assert summary["status"] == "interrupted" and summary["signal"] == "SIGTERM"
    steps = sorted(int(step) for step in re.findall(r"interrupted by SIGTERM at step (\d+)", err))
    saved = sorted(torch.load(path, weights_only=False)["global_step"] for path in sweep.glob("*/rounds/*/checkpoint.ckpt"))
    assert steps and saved == steps  # each running job saved the step it stopped at
    for job in ("2_seed=2", "3_seed=3"):
        assert f"rlth-run: {job}: not started: the sweep was stopped by SIGTERM" in err
        assert not (sweep / job / "summary.json").exists() and not (sweep / job / "rounds").exists()  # it never ran
    assert f"Sweep {sweep}: 4 jobs, 0 completed, 0 failed, 2 interrupted (0_seed=0, 1_seed=1), 2 not started (2_seed=2, 3_seed=3)" in err

    again = subprocess.run([exe, *args], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert f"Sweep {sweep}: 4 jobs, 4 completed, 0 failed" in again.stdout
    assert all(s["status"] == "completed" and len(s["rounds"]) == 2 for s in jobs_of(sweep).values()) and len(jobs_of(sweep)) == 4
