"""scripts/bench_sweep.py's check that both launchers did the same work.

The benchmark's ratio basic / joblib means something only if both sweeps ran
the same jobs to the same results. Its `compare` and `load_jobs` are tested
here on hand-made summaries: no training, and no timing.
"""

import copy
import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_sweep.py"


@pytest.fixture(scope="module")
def bench():
    name = "rlth_bench_sweep_script"
    spec = importlib.util.spec_from_file_location(name, SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[name]


def summary(seed: int, policy: str) -> dict:
    rounds = [{"round": k, "density": 0.8**k, "train_steps": 60, "params_nonzero": 26122 - 5000 * k,
               "hidden_layers": 1 + (k if policy == "grow" else 0), "val_acc": 0.9 + 0.01 * seed, "test_acc": 0.88}
              for k in range(3)]
    return {"status": "completed", "seed": seed, "policy": policy, "rounds": rounds}


@pytest.fixture
def jobs():
    return {f"seed={s} policy={p}": summary(s, p) for s in (1, 2) for p in ("reset", "grow")}


def test_equal_results_are_the_same_work(bench, jobs):
    assert bench.compare(jobs, copy.deepcopy(jobs), 4, acc_tol=0.02) == ([], 0.0)


def test_small_accuracy_differences_are_reported_not_flagged(bench, jobs):
    other = copy.deepcopy(jobs)
    other["seed=2 policy=grow"]["rounds"][2]["test_acc"] += 0.005  # another thread count's rounding
    problems, diff = bench.compare(jobs, other, 4, acc_tol=0.02)
    assert problems == [] and diff == pytest.approx(0.005)


@pytest.mark.parametrize("change, needle", [
    (lambda j: j["seed=1 policy=reset"]["rounds"][1].update(train_steps=59), "train_steps 60 vs 59"),
    (lambda j: j["seed=1 policy=grow"]["rounds"][2].update(density=0.5), "density"),
    (lambda j: j["seed=1 policy=grow"]["rounds"][2].update(hidden_layers=2), "hidden_layers 3 vs 2"),
    (lambda j: j["seed=2 policy=reset"]["rounds"][0].update(val_acc=0.5), "val_acc"),
    (lambda j: j["seed=2 policy=reset"].update(status="failed"), "joblib seed=2 policy=reset: status failed"),
    (lambda j: j["seed=2 policy=reset"]["rounds"].pop(), "3 rounds vs 2"),
    (lambda j: j.update({"seed=2 policy=reset": None}), "status no summary.json"),
    (lambda j: j.pop("seed=2 policy=grow"), "joblib: 3 jobs, expected 4"),
])
def test_a_mismatch_is_flagged(bench, jobs, change, needle):
    other = copy.deepcopy(jobs)
    change(other)
    problems, _ = bench.compare(jobs, other, 4, acc_tol=0.02)
    assert any(needle in line for line in problems), problems


def test_jobs_are_matched_by_their_grid_overrides(bench, tmp_path):
    for num, (seed, policy) in enumerate([(1, "reset"), (1, "grow")]):
        job = tmp_path / str(num)
        (job / ".hydra").mkdir(parents=True)
        extra = "- hardware.num_threads=1\n" if num else ""  # the joblib variant's extra override is not part of the job's name
        (job / ".hydra" / "overrides.yaml").write_text(f"- dataset=digits\n- seed={seed}\n{extra}- policy={policy}\n")
        if num == 0:
            (job / "summary.json").write_text(json.dumps(summary(seed, policy)))
    jobs = bench.load_jobs(tmp_path, {"seed", "policy"})
    assert jobs == {"seed=1 policy=reset": summary(1, "reset"), "seed=1 policy=grow": None}
    assert bench.grid_size(["seed=1,2,3,4", "policy=reset,grow"]) == 8
