"""The hardware group: precision, deterministic mode, threads per process."""

import pytest
import torch

from rlth_runner.cluster import sweeps, threads
from rlth_runner.run import runner


def run_watching(make_cfg, *overrides):
    """Run one round in-process; the dtypes Linear layers produced while training, and
    whether deterministic algorithms were on then."""
    seen, deterministic = set(), set()

    def hook(module, args, output):
        if isinstance(module, torch.nn.Linear) and torch.is_grad_enabled():
            seen.add(output.dtype)
            deterministic.add(torch.are_deterministic_algorithms_enabled())

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    try:
        result = runner.run(make_cfg("rounds=1", *overrides))
    finally:
        handle.remove()
        torch.use_deterministic_algorithms(False)
    return seen, deterministic, result["summary"]


def test_bf16_mixed_trains_on_the_cpu_in_bfloat16(make_cfg, tmp_path):
    seen, _, summary = run_watching(make_cfg, "hardware=cpu", "hardware.precision=bf16-mixed")
    assert seen == {torch.bfloat16}
    assert summary["status"] == "completed" and summary["rounds"][0]["train_steps"] == 8
    assert 0 < summary["rounds"][0]["test_acc"] <= 1
    seen, _, _ = run_watching(make_cfg, "hardware=cpu", f"paths.output_dir={tmp_path / 'fp32'}")  # the control
    assert seen == {torch.float32}


def test_deterministic_mode_is_on_while_training_and_changes_no_cpu_number(make_cfg, tmp_path):
    _, on, strict = run_watching(make_cfg, "hardware.deterministic=true")
    _, off, plain = run_watching(make_cfg, "hardware.deterministic=false", f"paths.output_dir={tmp_path / 'plain'}")
    assert on == {True} and off == {False}
    drop = lambda r: {k: v for k, v in r.items() if k != "seconds"}  # noqa: E731
    assert [drop(r) for r in strict["rounds"]] == [drop(r) for r in plain["rounds"]]


@pytest.mark.parametrize(("setting", "env", "processes", "expected"), [
    (3, {"SLURM_CPUS_PER_TASK": "8", sweeps.CONCURRENT_ENV: "4"}, 2, 3),  # the user's setting wins
    (None, {"SLURM_CPUS_PER_TASK": "8", sweeps.CONCURRENT_ENV: "4"}, 1, 8),  # SLURM's cores per task
    (None, {sweeps.CONCURRENT_ENV: "2"}, 1, max(1, sweeps.cores() // 2)),  # a parallel launcher's share
    (None, {}, 2, max(1, sweeps.cores() // 2)),  # DDP processes on the CPU share the job's cores
    (None, {sweeps.CONCURRENT_ENV: str(10 * sweeps.cores())}, 1, 1),  # never fewer than one
    (None, {}, 1, None),  # alone: torch's own choice
])
def test_threads_follow_the_cores_a_process_is_given(setting, env, processes, expected):
    n, why = threads.for_process(setting, processes, env=env)
    assert n == expected and why
