#!/usr/bin/env python
"""How much faster is a local sweep with the joblib launcher than with Hydra's basic one?

Times the 8-job sweep `rlth-run -m dataset=digits rounds=3 train.epochs=3
seed=1,2,3,4 policy=reset,grow` (two policies, so jobs of unequal length as in
a real sweep: grow adds a layer per round) run two ways, each a subprocess of
the real console script in its own sweep dir, wall clock end to end:

* `basic`: Hydra's basic launcher, one job after another in one process;
* `joblib`: `hydra/launcher=joblib hydra.launcher.n_jobs=<workers>`.

The order alternates over `--reps` repetitions. It prints each time, the
medians and the ratio basic / joblib (aim: >= 1.6 with 2 workers on 2 cores).
Each repetition checks that both did the same work: every job's summary.json
`completed`, with the same rounds (density, train_steps, nonzero parameters,
hidden layers exactly; accuracies within --acc-tol, as another torch thread
count may round differently; the max difference is printed), or it exits 1.
`--threads N` passes `hardware.num_threads=N` to the joblib jobs only; unset,
both get the tool's own choice. It prints the load average at start and end
and warns if the machine was busy. The last line is `ratio <median>`.

    python scripts/bench_sweep.py                      # 3 reps, a few minutes on 2 cores
    python scripts/bench_sweep.py --quick --reps 1     # smoke run: 4 jobs, 1 round of 1 epoch
    python scripts/bench_sweep.py --threads 1 --reps 5 --keep
    python scripts/bench_sweep.py --epochs 30          # longer jobs: start-up weighs less

It also prints each variant's start-up: the seconds from the command's start
to the first job's `started_at` (imports, and loky's workers for joblib),
which no launcher runs in parallel with anything.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

RLTH_RUN = Path(sys.executable).with_name("rlth-run")
GRID, QUICK_GRID = "seed=1,2,3,4 policy=reset,grow", "seed=1,2 policy=reset,grow"
EXACT = ("round", "density", "train_steps", "params_nonzero", "hidden_layers")
CLOSE = ("val_acc", "test_acc")


def grid_size(grid: list[str]) -> int:
    """Jobs in a grid of comma-separated values (`key=a,b,c`)."""
    return math.prod(len(o.split("=", 1)[1].split(",")) for o in grid)


def load_jobs(sweep: Path, keys: set[str]) -> dict[str, dict]:
    """summary.json of every job (None where missing), by the job's grid overrides."""
    jobs = {}
    for job in sorted(p for p in sweep.iterdir() if (p / ".hydra" / "overrides.yaml").exists()):
        lines = [ln.removeprefix("- ").strip() for ln in (job / ".hydra" / "overrides.yaml").read_text().splitlines()]
        label = " ".join(ln for ln in lines if ln.split("=", 1)[0] in keys)
        path = job / "summary.json"
        jobs[label] = json.loads(path.read_text()) if path.exists() else None
    return jobs


def compare(basic: dict[str, dict], joblib: dict[str, dict], n_jobs: int, acc_tol: float) -> tuple[list[str], float]:
    """(problems, max accuracy difference): did both variants run the same jobs to the same results?"""
    problems, diff = [], 0.0
    for name, jobs in (("basic", basic), ("joblib", joblib)):
        if len(jobs) != n_jobs:
            problems.append(f"{name}: {len(jobs)} jobs, expected {n_jobs}")
        problems += [f"{name} {job}: status {(s or {}).get('status', 'no summary.json')}"
                     for job, s in jobs.items() if (s or {}).get("status") != "completed"]
    if basic.keys() != joblib.keys():
        problems.append(f"different jobs: {sorted(basic.keys() ^ joblib.keys())}")
    for job in sorted(basic.keys() & joblib.keys()):
        a, b = (basic[job] or {}).get("rounds", []), (joblib[job] or {}).get("rounds", [])
        if len(a) != len(b):
            problems.append(f"{job}: {len(a)} rounds vs {len(b)}")
        for ra, rb in zip(a, b):
            for k in EXACT + CLOSE:
                x, y = ra.get(k), rb.get(k)
                close = k in CLOSE and x is not None and y is not None
                diff = max(diff, abs(x - y)) if close else diff
                if (abs(x - y) > acc_tol) if close else x != y:
                    problems.append(f"{job} round {ra.get('round')}: {k} {x} vs {y}")
    return problems, diff


def threads_used(jobs: dict[str, dict]) -> str:
    """The torch threads the jobs report in summary.json (`threads`)."""
    seen = sorted({str(s.get("threads", "?")) for s in jobs.values() if s})
    return "/".join(seen) if seen else "?"


def startup(jobs: dict[str, dict], launched: datetime) -> float:
    """Seconds from the command's start until its first job started."""
    first = min(datetime.fromisoformat(s["started_at"]) for s in jobs.values() if s and "started_at" in s)
    return (first - launched).total_seconds()


def sweep(variant: str, args, overrides: list[str], out: Path) -> tuple[float, datetime]:
    """Seconds for one `rlth-run -m` of the grid, end to end, and when it started."""
    extra = {"basic": [], "joblib": ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={args.workers}"]}[variant]
    if variant == "joblib" and args.threads:
        extra.append(f"hardware.num_threads={args.threads}")
    cmd = [str(RLTH_RUN), "-m", *overrides, *extra, f"hydra.sweep.dir={out}"]
    launched, start = datetime.now(timezone.utc), time.perf_counter()
    with open(out.parent / f"{out.name}.log", "w") as log:
        proc = subprocess.run(cmd, cwd=out.parent, stdout=log, stderr=subprocess.STDOUT, timeout=3600)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited {proc.returncode}; its output:\n{Path(log.name).read_text()[-4000:]}")
    return seconds, launched


def load(when: str) -> float:
    one, five, fifteen = os.getloadavg()
    print(f"{when}: load average {one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min)", flush=True)
    return one


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--workers", type=int, default=2, help="hydra.launcher.n_jobs of the joblib variant")
    p.add_argument("--jobs-grid", default=None, help=f"sweep overrides, comma-separated values (default {GRID!r})")
    p.add_argument("--threads", type=int, default=None, help="hardware.num_threads for the joblib jobs (default: unset)")
    p.add_argument("--acc-tol", type=float, default=0.02, help="largest accuracy difference that counts as the same work")
    p.add_argument("--quick", action="store_true", help=f"rounds=1 train.epochs=1, grid {QUICK_GRID!r}")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=3, help="train.epochs per round")
    p.add_argument("--keep", action="store_true", help="keep the sweep dirs and logs")
    args = p.parse_args(argv)

    grid = (args.jobs_grid or (QUICK_GRID if args.quick else GRID)).split()
    settings = ["dataset=digits", *(["rounds=1", "train.epochs=1"] if args.quick else [f"rounds={args.rounds}", f"train.epochs={args.epochs}"])]
    n_jobs, keys = grid_size(grid), {o.split("=", 1)[0] for o in grid}
    threads = f"hardware.num_threads={args.threads}" if args.threads else "hardware.num_threads unset (the tool's choice)"
    omp = f"; OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}" if "OMP_NUM_THREADS" in os.environ else ""
    print(f"{os.cpu_count()} cores; {n_jobs} jobs: rlth-run -m {' '.join(settings + grid)}")
    print(f"  basic:  Hydra's basic launcher, one process; hardware.num_threads unset (the tool's choice){omp}")
    print(f"  joblib: hydra/launcher=joblib hydra.launcher.n_jobs={args.workers}; {threads}{omp}")
    if load("start") > 0.5:
        print("WARNING: the machine is busy (load > 0.5): these times are noise, not a measurement", flush=True)

    work = Path(tempfile.mkdtemp(prefix="rlth-bench-sweep-"))
    times, worst, ok = {"basic": [], "joblib": []}, 0.0, True
    try:
        for rep in range(1, args.reps + 1):
            order = ["basic", "joblib"] if rep % 2 else ["joblib", "basic"]
            launched = {}
            for variant in order:
                seconds, launched[variant] = sweep(variant, args, settings + grid, work / f"rep{rep}-{variant}")
                times[variant].append(seconds)
            basic, joblib = (load_jobs(work / f"rep{rep}-{v}", keys) for v in ("basic", "joblib"))
            problems, diff = compare(basic, joblib, n_jobs, args.acc_tol)
            worst, ok = max(worst, diff), ok and not problems
            print(f"rep {rep}: basic {times['basic'][-1]:.2f} s | joblib {times['joblib'][-1]:.2f} s "
                  f"(ratio {times['basic'][-1] / times['joblib'][-1]:.2f}) | same work: {len(basic.keys() & joblib.keys())} "
                  f"jobs compared, max accuracy difference {diff:.2e}" + ("  <- NOT the same work" if problems else ""), flush=True)
            print(f"  torch threads per job (summary.json): basic {threads_used(basic)}, joblib {threads_used(joblib)}; "
                  f"start-up until the first job: basic {startup(basic, launched['basic']):.2f} s, "
                  f"joblib {startup(joblib, launched['joblib']):.2f} s")
            for line in problems:
                print(f"  {line}", file=sys.stderr)
    finally:
        if args.keep:
            print(f"outputs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    med = {v: statistics.median(t) for v, t in times.items()}
    print(f"median: basic {med['basic']:.2f} s, joblib {med['joblib']:.2f} s, "
          f"max accuracy difference over all reps {worst:.2e}")
    load("end")
    if not ok:
        print("the two variants did not do the same work: the ratio means nothing", file=sys.stderr)
        return 1
    print(f"ratio {med['basic'] / med['joblib']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
