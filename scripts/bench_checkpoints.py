#!/usr/bin/env python
"""What `checkpoint.every_n_steps` costs a round.

In one process, the same round (round 0 of a run through
`rlth_runner.run.runner.run`) is trained alternately with checkpoints inside
epochs every N optimizer steps, written at every chance
(`checkpoint.min_interval_s=0`, the worst case: the default interval of 60 s
writes fewer), and with none (`checkpoint.every_n_steps=null`); epoch-end
checkpoints are off in both. It prints, per model, the median fit time of each,
their ratio, how many checkpoints a round wrote and what one write took,
and `cost <fraction>`: the writes' time over the round's time without them, the
number docs/performance.md quotes (the ratio of two medians is within the
machine's noise at this size; the writes' own time is not).

    python scripts/bench_checkpoints.py                       # mlp and lenet_300_100 on digits, the default 2000 steps
    python scripts/bench_checkpoints.py --models mlp --reps 3 --every 500 --epochs 40
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # the checkout's code, even without an editable install


def compose_cfg(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    from rlth_runner.config import validate
    from rlth_runner.entry.conf import CONFIG_DIR

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    validate(cfg)
    return cfg


def one_round(out: Path, model: str, every: int | None, epochs: int, batch: int, writes: list[float]) -> tuple[float, int]:
    """Round 0's fit seconds and optimizer steps; each checkpoint write's seconds go to `writes`."""
    from rlth_runner.run.runner import run
    from rlth_runner.storage.rundir import RunDir

    cfg = compose_cfg(["rounds=1", f"model={model}", f"train.epochs={epochs}", f"train.batch_size={batch}", "hardware.num_threads=1", f"paths.output_dir={out}",
                       "checkpoint.every_n_epochs=null", "checkpoint.min_interval_s=0",
                       f"checkpoint.every_n_steps={'null' if every is None else every}"])
    save = RunDir.save_checkpoint

    def timed(self, k, write):
        started = time.perf_counter()
        save(self, k, write)
        writes.append(time.perf_counter() - started)

    RunDir.save_checkpoint = timed
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            record = run(cfg)["summary"]["rounds"][0]
    finally:
        RunDir.save_checkpoint = save
    return record["seconds"], record["train_steps"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="mlp,lenet_300_100")
    p.add_argument("--every", type=int, default=2000, help="checkpoint.every_n_steps to measure")
    p.add_argument("--epochs", type=int, default=80, help="train.epochs of the round (80: 2080 steps)")
    # 26 batches an epoch on digits: multiples of 500 fall inside epochs (none is taken at an epoch's last batch)
    p.add_argument("--batch", type=int, default=50, help="train.batch_size")
    p.add_argument("--reps", type=int, default=5, help="alternations of with and without")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            times = {"with": [], "without": []}
            writes: list[float] = []
            steps = 0
            for rep in range(args.reps):
                for kind in (("with", "without") if rep % 2 == 0 else ("without", "with")):
                    every = args.every if kind == "with" else None
                    counted: list[float] = []
                    seconds, steps = one_round(Path(tmp) / f"{model}_{kind}_{rep}", model, every, args.epochs, args.batch, counted)
                    times[kind].append(seconds)
                    if kind == "with":
                        writes += counted
            per_round = len(writes) / args.reps
            with_s, without_s = statistics.median(times["with"]), statistics.median(times["without"])
            write_s = statistics.median(writes) if writes else 0.0
            print(f"== {model} on digits, batch {args.batch}, {steps} steps a round, checkpoint.every_n_steps={args.every}, {args.reps} alternations")
            print(f"  fit seconds, median: with {with_s:.3f}, without {without_s:.3f}; ratio {with_s / without_s:.4f}")
            print(f"  checkpoints a round: {per_round:.0f}; one write: {1e3 * write_s:.1f} ms (median)")
            print(f"  cost {per_round * write_s / without_s:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
