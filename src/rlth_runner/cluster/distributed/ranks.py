"""Which rank a process is, known from its environment before any process
group exists, and its share of the machine's cores. Torch-free."""

from __future__ import annotations

import os
from datetime import timedelta

LAUNCHED = "RLTH_DDP_RANK"  # in every process of a group that rlth-run started: its rank
RANK_ENV = ("LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "OMP_NUM_THREADS", LAUNCHED)
# A collective waiting this long for a rank ends the run. gloo notices a dead
# rank at once; launch.py bounds the wait where nccl would not.
TIMEOUT = timedelta(minutes=30)


class RankError(RuntimeError):
    """Ranks that disagree, or a rank that failed; the runner reports it as a RunError."""


def wanted(hw) -> bool:
    return hw.get("strategy", "auto") == "ddp" and hw.devices > 1


def slurm_tasks() -> int:
    from lightning_fabric.plugins.environments import SLURMEnvironment

    return int(os.environ.get("SLURM_NTASKS", 1)) if SLURMEnvironment.detect() else 1


def rank_of(hw) -> int:
    """This process's global rank, known before the process group exists; 0 in a single-process run."""
    env = os.environ
    if not wanted(hw):
        return 0
    if LAUNCHED in env or "RANK" in env:  # rlth-run's ranks, torchrun's
        return int(env.get(LAUNCHED, env.get("RANK")))
    if slurm_tasks() > 1:
        return int(env["SLURM_PROCID"])
    return int(env.get("NODE_RANK", 0)) * hw.devices + int(env.get("LOCAL_RANK", 0))


def threads_per_rank(hw, env=os.environ) -> tuple[int | None, str]:
    """(torch threads, why) for this process: the machine's (or SLURM task's) cores shared by its ranks."""
    from ..threads import for_process

    if not wanted(hw):
        return for_process(hw.num_threads, 1, env)
    if LAUNCHED in env or slurm_tasks() <= 1:  # one SLURM task holds every rank's cores: share its CPU set
        env = {k: v for k, v in env.items() if k != "SLURM_CPUS_PER_TASK"}
    return for_process(hw.num_threads, hw.devices, env)
