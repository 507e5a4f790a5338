"""`hardware=ddp`: N processes that rlth-run starts itself (never Lightning's
script launcher), agreeing on masks, architecture and when to stop, with one
writer (rank 0) and one output tree, and numbers close to a one-process run.

The machine has 2 cores, so every DDP run here is 2 CPU processes (gloo) of
1 torch thread each."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import FAST, rlth_run, wait_for
from omegaconf import OmegaConf

from rlth_runner.cluster import distributed
from rlth_runner.config import ConfigError, validate
from rlth_runner.data.batches import TensorBatches

DDP = ["hardware=ddp", "hardware.devices=2", "hardware.num_threads=1"]


def tree(root: Path) -> list[str]:
    """Every path under `root`; TensorBoard event files by folder (their names hold a time, host and pid)."""
    names = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        names.append(str(rel.parent / "<events>") if path.name.startswith("events.out.tfevents") else str(rel))
    return names


def scalars(log_dir: Path, tag: str) -> list:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    return acc.Scalars(tag)


def summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


def ranks_output(folder: Path) -> list[Path]:
    """What rlth-run left in a temporary folder (torch keeps a cache of its own there)."""
    return list(folder.glob("rlth-ddp-*"))


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """rlth-run's temporary folders (the ranks' output) go here, so a test sees what a run leaves behind."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    return folder


# ---------------------------------------------------------------- config, batches, agreement: no processes
def test_ddp_config_rules_are_one_line_errors(make_cfg):
    validate(make_cfg(*DDP))
    validate(make_cfg("hardware=ddp", "hardware.devices=3"))
    cases = {
        ("hardware=ddp", "hardware.devices=1"): r"^hardware.strategy=ddp with hardware.devices=1: DDP needs hardware.devices >= 2 ",
        ("hardware.devices=2",): r"^hardware.devices=2 with hardware.strategy=auto: several devices need hardware=ddp ",
        ("hardware.accelerator=gpu", "hardware.devices=2"): r"^hardware.devices=2 with hardware.strategy=auto: ",
        ("hardware=ddp", "hardware.devices=4", "train.batch_size=3"): r"^train.batch_size=3 is the global batch, .* must be >= 4$",
        ("hardware.strategy=fsdp",): r"^hardware.strategy='fsdp' is not one of: auto, ddp$",
        ("hardware=ddp", "hardware.devices=two"): r"^hardware.devices='two' must be an integer >= 1$",
    }
    for overrides, message in cases.items():
        with pytest.raises(ConfigError, match=message):
            validate(make_cfg(*overrides))


@pytest.mark.parametrize("world, n, batch", [(2, 1257, 64), (3, 100, 10), (2, 65, 64)])
def test_the_ranks_shares_make_up_the_one_process_batches(world, n, batch):
    x, y = torch.arange(n, dtype=torch.float32).unsqueeze(1), torch.arange(n)
    one = list(TensorBatches(x, y, batch, shuffle=True, seed=3))
    shares = [list(TensorBatches(x, y, batch, shuffle=True, seed=3, rank=r, world_size=world)) for r in range(world)]
    rest = n % batch
    dropped = 0 < rest < world  # a last batch too small to give every rank an example
    assert all(len(s) == len(one) - dropped for s in shares), "every rank takes the same number of steps"
    for i, (bx, by) in enumerate(one[: len(one) - dropped]):
        parts = [s[i] for s in shares]
        assert torch.equal(torch.cat([p[0] for p in parts]), bx) and torch.equal(torch.cat([p[1] for p in parts]), by)
        assert max(len(p[1]) for p in parts) - min(len(p[1]) for p in parts) <= 1 and min(len(p[1]) for p in parts) > 0


def test_augmentation_draws_for_the_whole_batch_so_each_example_is_transformed_as_in_one_process():
    x, y = torch.randn(50, 3), torch.arange(50)
    noise = lambda batch, gen: batch + torch.randn(batch.shape, generator=gen)  # noqa: E731
    one = list(TensorBatches(x, y, 16, shuffle=True, seed=1, augment=noise))
    shares = [list(TensorBatches(x, y, 16, shuffle=True, seed=1, augment=noise, rank=r, world_size=2)) for r in range(2)]
    for i, (bx, by) in enumerate(one):
        assert torch.equal(torch.cat([shares[0][i][0], shares[1][i][0]]), bx)
        assert torch.equal(torch.cat([shares[0][i][1], shares[1][i][1]]), by)


def test_the_agreement_check_names_the_round_and_the_ranks_that_differ():
    same = {"masks": "m", "arch": "a", "weights": "w"}
    distributed.compare(2, [same, dict(same), dict(same)])
    with pytest.raises(distributed.RankError, match=r"^round 3: rank 1 disagrees with rank 0 on the masks after pruning and the policy$"):
        distributed.compare(3, [same, {**same, "masks": "x"}])
    with pytest.raises(distributed.RankError, match=r"^round 1: rank 1, 2 disagree with rank 0 on the architecture "):
        distributed.compare(1, [same, {**same, "arch": "b"}, {**same, "arch": "c", "masks": "x"}])
    distributed.compare(4, [same, {**same, "weights": "v"}])  # weights are recorded, not required: each fit broadcasts rank 0's


def test_digests_see_a_changed_mask_and_a_grown_layer(make_cfg):
    from rlth_runner.lottery import growth
    from rlth_runner.data import load_dataset
    from rlth_runner.models.build import build_model
    from rlth_runner.lottery.pruning import pruners

    cfg = make_cfg()
    torch.manual_seed(0)
    net = build_model(cfg.model, load_dataset(cfg.dataset, cfg.paths.data_dir))
    pruners.attach_masks(net, cfg.pruner)
    before = distributed.digests(net)
    net.output.weight_mask[0, 0] = 0
    pruned = distributed.digests(net)
    assert pruned["masks"] != before["masks"] and pruned["arch"] == before["arch"]
    growth.insert(net, "last", "identity")
    assert distributed.digests(net)["arch"] != pruned["arch"]


def test_ranks_and_threads_come_from_the_environment(make_cfg, monkeypatch):
    for key in (*distributed.RANK_ENV, "RANK", "SLURM_NTASKS", "SLURM_CPUS_PER_TASK", "RLTH_CONCURRENT_JOBS"):
        monkeypatch.delenv(key, raising=False)
    hw = make_cfg(*DDP, "hardware.num_threads=null").hardware
    assert distributed.rank_of(hw) == 0 and distributed.rank_of(make_cfg().hardware) == 0
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert distributed.rank_of(hw) == 1
    assert distributed.rank_of(make_cfg().hardware) == 0, "a single-process run is rank 0 whatever the environment"
    monkeypatch.setenv(distributed.LAUNCHED, "1")
    monkeypatch.setattr("rlth_runner.cluster.threads.cores", lambda: 8)
    assert distributed.threads_per_rank(hw) == (4, "8 cores / (2 processes per job)")
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "8")  # one SLURM task holding both ranks: they share its cores
    assert distributed.threads_per_rank(hw)[0] == 4
    assert distributed.threads_per_rank(make_cfg("hardware.num_threads=3").hardware) == (3, "hardware.num_threads")


def test_slurm_tasks_are_the_ranks_when_there_is_one_per_device(make_cfg, monkeypatch):
    from lightning_fabric.utilities.rank_zero import rank_zero_only

    monkeypatch.setattr(rank_zero_only, "rank", rank_zero_only.rank)  # a LightningEnvironment sets it process-wide
    for key in (*distributed.RANK_ENV, "RANK"):
        monkeypatch.delenv(key, raising=False)
    hw = make_cfg(*DDP).hardware
    monkeypatch.setenv("SLURM_NTASKS", "1")  # one task: rlth-run starts the ranks, whatever SLURM says
    monkeypatch.setenv("SLURM_PROCID", "0")
    assert distributed.rank_of(hw) == 0 and type(distributed.cluster_environment(hw)).__name__ == "LightningEnvironment"
    monkeypatch.setenv(distributed.LAUNCHED, "1")  # ... and in the rank it started, the rank is rlth-run's
    assert distributed.rank_of(hw) == 1 and distributed.cluster_environment(hw).global_rank() == 1
    monkeypatch.delenv(distributed.LAUNCHED)
    monkeypatch.setenv("SLURM_NTASKS", "2")
    monkeypatch.setenv("SLURM_NTASKS_PER_NODE", "2")
    monkeypatch.setenv("SLURM_PROCID", "1")
    monkeypatch.setenv("SLURM_LOCALID", "1")
    monkeypatch.setenv("SLURM_NODEID", "0")
    env = distributed.cluster_environment(hw)
    assert distributed.rank_of(hw) == 1 and type(env).__name__ == "SLURMEnvironment" and (env.global_rank(), env.world_size()) == (1, 2)
    monkeypatch.setenv("SLURM_NTASKS", "4")
    monkeypatch.setenv("SLURM_NTASKS_PER_NODE", "4")
    with pytest.raises(ConfigError, match=r"^hardware.devices=2: this SLURM job has 4 tasks on 1 node\(s\); DDP needs one node with tasks_per_node=2"):
        distributed.cluster_environment(hw)


def test_a_run_directory_that_is_not_the_writer_changes_nothing(tmp_path):
    from rlth_runner.record import RoundRecord
    from rlth_runner.storage.rundir import RunDir

    state = {"w": torch.ones(2)}
    record = RoundRecord(round=0, density=1.0, layer_density={}, params_total=2, params_nonzero=2, hidden_layers=1, macs=2,
                         val_acc=0.5, test_acc=0.5, test_loss=1.0)
    writer = RunDir(tmp_path / "run")
    writer.save_init(state)
    writer.save_round(0, state, {}, {"hidden": []}, record)
    writer.save_checkpoint(1, lambda path: torch.save({"global_step": 5}, path))
    writer.write_summary({"status": "running"})
    before = {p: p.read_bytes() for p in sorted((tmp_path / "run").rglob("*")) if p.is_file()}

    other = RunDir(tmp_path / "run", writer=False)
    with other.lock():
        other.save_init({"w": torch.zeros(2)})
        other.save_rewind(3, state)
        other.save_fingerprint({"a": 1}, "d")
        other.save_round(1, state, {}, {"hidden": []}, record)
        other.save_start(1, state)
        other.save_checkpoint(1, lambda path: pytest.fail("a rank that does not write never writes a checkpoint"))
        other.clear_partial(1)
        other.drop_checkpoint(1)
        other.move_aside(other.init_path)
        other.start_verification(0)
        other.save_verification({"round": 0})
        other.write_summary({"status": "failed"})
        other.summary_writer().add_scalar("rounds/density", 1.0, 0)
    assert {p: p.read_bytes() for p in sorted((tmp_path / "run").rglob("*")) if p.is_file()} == before
    assert other.checkpoint(1)[1] == 5 and other.load_record(0) == record, "it reads what the writer wrote"
    RunDir(tmp_path / "elsewhere", writer=False)
    assert not (tmp_path / "elsewhere").exists()


# ---------------------------------------------------------------- two real processes
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank: int, port: int, differ: bool, results) -> None:
    """One of two processes started by hand (as torchrun would): LOCAL_RANK is set, so nothing is launched."""
    os.environ.update(LOCAL_RANK=str(rank), NODE_RANK="0", WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from rlth_runner.lottery.pruning import masks

    cfg = OmegaConf.create({"hardware": {"strategy": "ddp", "devices": 2, "accelerator": "cpu", "num_threads": 1}})
    net = torch.nn.Sequential(torch.nn.Linear(4, 3))
    masks.attach(net, ["Linear"])
    if differ and rank == 1:
        net[0].weight_mask[0, 0] = 0
    order = []
    try:
        with distributed.ranks(cfg, {}):
            with distributed.rank_zero_first():
                order.append(time.monotonic())
                time.sleep(0.3 if rank == 0 else 0)
            order.append(distributed.from_rank_zero(f"rank {rank}"))
            distributed.check_agreement(5, net)
            results.put((rank, "agreed", distributed.describe(), order))
    except distributed.RankError as err:
        results.put((rank, "error", str(err), order))


@pytest.mark.slow
@pytest.mark.parametrize("differ", [False, True], ids=["same masks", "differing masks"])
def test_the_agreement_check_gathers_every_ranks_digests(differ):
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_rank, args=(r, port, differ, results)) for r in range(2)]
    for p in procs:
        p.start()
    got = dict((r, rest) for r, *rest in (results.get(timeout=120) for _ in procs))
    for p in procs:
        p.join(timeout=60)
    (s0, v0, order0), (s1, v1, order1) = got[0], got[1]
    assert order0[1] == order1[1] == "rank 0", "rank 0's value on every rank"
    assert order1[0] >= order0[0] + 0.3, "rank 1 ran the rank_zero_first block after rank 0 finished it"
    if differ:
        assert s0 == s1 == "error" and v0 == v1 == "round 5: rank 1 disagrees with rank 0 on the masks after pruning and the policy"
    else:
        assert s0 == s1 == "agreed"
        block = v0["distributed"]
        assert block["world_size"] == 2 and block["backend"] == "gloo"
        assert len(set(block["agreement"]["5"]["masks"])) == 1 and len(block["agreement"]["5"]["masks"]) == 2


# ---------------------------------------------------------------- the real CLI
@pytest.mark.slow
def test_a_ddp_grow_run_agrees_writes_one_tree_and_matches_one_process(tmp_path, private_tmp):
    args = [*FAST, "policy=grow", "rounds=3", "hardware.num_threads=1"]
    rlth_run(*args, *DDP, f"hydra.run.dir={tmp_path / 'ddp'}", cwd=tmp_path)
    rlth_run(*args, f"hydra.run.dir={tmp_path / 'one'}", cwd=tmp_path)
    ddp, one = summary(tmp_path / "ddp"), summary(tmp_path / "one")

    # Every rank held the same masks and architecture after each round's pruning and growth,
    # and the same weights (DDP's averaged gradients keep them equal).
    block = ddp["distributed"]
    assert block["world_size"] == 2 and block["backend"] == "gloo" and sorted(block["agreement"]) == ["0", "1", "2"]
    for k, digests in block["agreement"].items():
        assert all(len(v) == 2 and len(set(v)) == 1 for v in digests.values()), (k, digests)
    assert len({d["masks"][0] for d in block["agreement"].values()}) == 3, "round 1 and 2 pruned: the masks changed"
    assert "distributed" not in one

    # One output tree: the two run directories and the (empty) temporary folder, nothing else;
    # the DDP run's files are the one-process run's (one writer: one events file per TensorBoard run).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp", "one", "tmp"] and not ranks_output(private_tmp)
    assert tree(tmp_path / "ddp") == tree(tmp_path / "one")
    assert not list(tmp_path.rglob("lightning_logs")) and not list(tmp_path.rglob(".pl_*"))

    # Growth as in one process; every count exact, the scores close. DDP's mean of
    # the two half-batch gradients is the full batch's mean up to float rounding
    # (weights differ by ~1e-7), which can flip at most a borderline prediction or
    # two: 0.01 is under 2 of the 180 validation and 4 of the 360 test examples.
    for a, b in zip(ddp["rounds"], one["rounds"], strict=True):
        for key in ("round", "density", "layer_density", "hidden_layers", "params_total", "train_steps", "epochs", "macs", "pruned"):
            assert a[key] == b[key], key
        assert a["val_acc"] == pytest.approx(b["val_acc"], abs=0.01) and a["test_acc"] == pytest.approx(b["test_acc"], abs=0.01)
        assert a["test_loss"] == pytest.approx(b["test_loss"], rel=1e-3)
    assert [r["hidden_layers"] for r in ddp["rounds"]] == [1, 2, 3]
    weights = lambda run, k: torch.load(tmp_path / run / "rounds" / f"round_{k}" / "weights.pt", weights_only=True)  # noqa: E731
    for k in range(3):
        a, b = weights("ddp", k), weights("one", k)
        assert a.keys() == b.keys() and max(float((a[n] - b[n]).abs().max()) for n in a) < 1e-5
    # ...although rank 0 trained on its half of each batch: the loss it logs is that half's.
    logged = lambda run: [e.value for e in scalars(tmp_path / run / "tensorboard" / "round_0", "train/loss_step")]  # noqa: E731
    assert len(logged("ddp")) == len(logged("one")) and logged("ddp") != logged("one")
    for k in range(3):
        arch = lambda run: json.loads((tmp_path / run / "rounds" / f"round_{k}" / "arch.json").read_text())  # noqa: E731
        assert arch("ddp") == arch("one")
    assert ddp["status"] == "completed" and ddp["threads"] == 1


@pytest.mark.slow
def test_rewind_verification_checkpoints_and_early_stop_under_ddp(tmp_path, private_tmp):
    # RoundCheckpoint saves at epoch 0's end (a collective), RewindCapture at step 4 and the
    # early-stop evaluation every 5 steps run on every rank, and verification retrains on every rank.
    args = [*FAST, "train.max_steps=null", "train.epochs=2", "policy=rewind", "policy.step=4", "verify.enabled=true",
            "checkpoint.min_interval_s=0", "train.eval_every_n_steps=5", "rounds=2", "hardware.num_threads=1"]
    rlth_run(*args, *DDP, f"hydra.run.dir={tmp_path / 'ddp'}", cwd=tmp_path)
    rlth_run(*args, f"hydra.run.dir={tmp_path / 'one'}", cwd=tmp_path)
    assert tree(tmp_path / "ddp") == tree(tmp_path / "one") and not ranks_output(private_tmp)
    ledger = json.loads((tmp_path / "ddp" / "checksums.json").read_text())
    assert {"rounds/round_0/checkpoint.ckpt", "rounds/round_1/checkpoint.ckpt", "rewind.pt"} <= set(ledger), "saved, then dropped"
    ddp, one = summary(tmp_path / "ddp"), summary(tmp_path / "one")
    assert ddp["status"] == "completed" and [r["train_steps"] for r in ddp["rounds"]] == [40, 40]
    for a, b in zip(ddp["rounds"], one["rounds"], strict=True):
        assert (a["density"], a["early_stop_step"] is not None) == (b["density"], True)
        assert a["test_acc"] == pytest.approx(b["test_acc"], abs=0.01)  # the tolerance of the grow test below
    v, w = ddp["verification"], one["verification"]
    assert v["train_steps"] == w["train_steps"] and v["test_acc"] == pytest.approx(w["test_acc"], abs=0.01)
    rewind = lambda run: torch.load(tmp_path / run / "rewind.pt", weights_only=True)  # noqa: E731
    assert rewind("ddp")["step"] == 4 and all(torch.allclose(rewind("ddp")["state"][n], t, atol=1e-5) for n, t in rewind("one")["state"].items())


@pytest.mark.slow
def test_blocks_of_steps_under_ddp_train_the_weights_of_single_steps(tmp_path):
    # Each step in a block goes through manual_backward, which readies DDP's gradient reduction for it.
    args = [*DDP, *FAST, "train.max_steps=null", "rounds=1"]  # one epoch: 19 batches of 64 and one of 41 (21 + 20)
    rlth_run(*args, f"hydra.run.dir={tmp_path / 'blocks'}", cwd=tmp_path)
    rlth_run(*args, "train.steps_per_block=1", f"hydra.run.dir={tmp_path / 'single'}", cwd=tmp_path)
    a = torch.load(tmp_path / "blocks" / "rounds" / "round_0" / "weights.pt", weights_only=True)
    b = torch.load(tmp_path / "single" / "rounds" / "round_0" / "weights.pt", weights_only=True)
    assert all(torch.equal(a[n], b[n]) for n in b)
    assert summary(tmp_path / "blocks")["rounds"][0]["train_steps"] == 20


@pytest.mark.slow
def test_a_ddp_sweep_runs_each_job_once(tmp_path, private_tmp):
    # stop.density=0.9 ends each run after round 1 (85% left): every rank must leave the loop there, or the run hangs.
    proc = rlth_run("-m", *DDP, "seed=1,2", *FAST, "rounds=4", "stop.density=0.9", f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path)
    assert "2 jobs, 2 completed, 0 failed" in proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep", "tmp"] and not ranks_output(private_tmp)
    jobs = sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.is_dir())
    assert jobs == ["0_seed=1", "1_seed=2"] and sorted(p.name for p in (tmp_path / "sweep").iterdir()) == [*jobs, "multirun.yaml"]
    for job, seed in zip(jobs, (1, 2)):
        s = summary(tmp_path / "sweep" / job)
        assert s["status"] == "completed" and s["seed"] == seed and s["distributed"]["world_size"] == 2
        assert len(s["rounds"]) == 2 and s["stopped_by"] == "density"


LONG = [*DDP, "rounds=2", "train.epochs=60", "model.width=32"]  # rounds of a few seconds: time to land a signal


def start(out: Path, *extra: str) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("rlth-run")
    return subprocess.Popen([str(exe), *LONG, *extra, f"hydra.run.dir={out}"], cwd=out.parent, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds rank 1 through /proc")
def test_a_rank_that_dies_fails_the_run_with_one_line_instead_of_a_hang(tmp_path, private_tmp):
    out = tmp_path / "run"
    proc = start(out)
    wait_for(out / "rounds" / "round_0" / "metrics.json", proc)
    (rank1,) = children(proc.pid)
    os.kill(rank1, signal.SIGKILL)
    _, stderr = proc.communicate(timeout=120)
    lines = [line for line in stderr.splitlines() if line.startswith("rlth-run:")]
    assert proc.returncode == 1 and len(lines) == 1 and "Traceback" not in stderr, stderr
    assert lines[0].startswith("rlth-run: error: rank 1 was killed by SIGKILL (its output: ")
    kept = Path(lines[0].split("(its output: ")[1].rstrip(")"))
    assert kept.parent.parent == private_tmp and "Round 0 done" in kept.read_text(), "rank 1's output is kept for the user"
    s = summary(out)
    assert s["status"] == "failed" and "rank 1 was killed by SIGKILL" in s["error"] and [r["round"] for r in s["rounds"]] == [0]


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds rank 1 through /proc")
def test_sigterm_stops_every_rank_and_the_rerun_continues_from_the_checkpoint(tmp_path, private_tmp):
    out, straight = tmp_path / "run", tmp_path / "straight"
    every_epoch = "checkpoint.min_interval_s=0"  # a checkpoint (a collective) at every epoch's end
    proc = start(out, every_epoch)
    wait_for(out / "rounds" / "round_0" / "metrics.json", proc)
    time.sleep(1.0)  # some epochs into round 1
    (rank1,) = children(proc.pid)
    os.kill(proc.pid, signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    assert not Path(f"/proc/{rank1}").exists() or "zombie" in Path(f"/proc/{rank1}/status").read_text(), "rank 1 was reaped"
    s = summary(out)
    assert s["status"] == "interrupted" and s["signal"] == "SIGTERM" and [r["round"] for r in s["rounds"]] == [0]
    assert (out / "rounds" / "round_1" / "checkpoint.ckpt").exists()

    again = start(out, every_epoch)
    assert again.wait(timeout=300) == 0, again.communicate()
    assert "Round 1: resuming from its checkpoint at step" in (out / "rlth.log").read_text()
    assert start(straight, every_epoch).wait(timeout=300) == 0
    s = summary(out)
    assert s["status"] == "completed" and sorted(s["distributed"]["agreement"]) == ["1"], "the re-run checks the round it trains"
    drop = lambda r: {k: v for k, v in r.items() if k != "seconds"}  # noqa: E731
    assert [drop(r) for r in s["rounds"]] == [drop(r) for r in summary(straight)["rounds"]]
    for k in range(2):
        a = torch.load(out / "rounds" / f"round_{k}" / "weights.pt", weights_only=True)
        b = torch.load(straight / "rounds" / f"round_{k}" / "weights.pt", weights_only=True)
        assert all(torch.equal(a[n], b[n]) for n in b), k
    assert not ranks_output(private_tmp)
