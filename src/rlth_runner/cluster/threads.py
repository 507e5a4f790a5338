"""Torch threads per process: the share of the cores a process is given.

Parallel jobs that each take every core make a small machine crawl (two
2-thread torch processes on 2 cores ran 10x slower). So, unless
`hardware.num_threads` says otherwise, a process takes the cores its job was
given (SLURM's cpus_per_task), or this machine's cores divided by the jobs of
its sweep running at once (sweeps.py) and by the job's processes on this
machine (DDP ranks on CPU). A run alone keeps torch's own choice.
"""

from __future__ import annotations

import os

from .sweeps import CONCURRENT_ENV, cores


def for_process(num_threads: int | None, processes_per_job: int = 1, env=os.environ) -> tuple[int | None, str]:
    """(threads, why); threads None: keep torch's default."""
    if num_threads:
        return num_threads, "hardware.num_threads"
    if given := env.get("SLURM_CPUS_PER_TASK"):
        return max(1, int(given)), f"SLURM cpus_per_task={given}"
    jobs = max(1, int(env.get(CONCURRENT_ENV) or 1))
    if jobs * processes_per_job <= 1:
        return None, "torch's default"
    n = cores()
    share = [f"{jobs} jobs at once"] * (jobs > 1) + [f"{processes_per_job} processes per job"] * (processes_per_job > 1)
    return max(1, n // (jobs * processes_per_job)), f"{n} cores / ({' x '.join(share)})"
