#!/usr/bin/env python
"""How much slower is rlth-runner than a hand-written PyTorch loop?

For each case, in one process, this script trains the same network from the
same initial weights on the same index-batched data, three ways, alternating
the order over several repetitions:

* `reference`: a plain PyTorch loop (index a batch, forward, backward, Adam
  step, re-zero the pruned weights in place), with an evaluation pass over
  the validation set after every completed epoch, as the Trainer does;
* `rlth`: rlth-runner's real training path, i.e. the `Classifier` module
  and the Trainer from `build_trainer` (TensorBoard logging and the progress
  bar on), built and fitted as the runner does for a round;
* `rlth dense`: the same, without masks, to measure what the masks cost.

Pruned runs use 80% sparsity in every Linear and Conv2d layer. It prints the
per-step time of each (median over repetitions), the median ratio
rlth / reference, the mask overhead and peak memory. Each repetition also
checks that `rlth` and `reference` did the same work, so that the ratio
compares like with like: a line

    same work: steps <n> vs <n>, final loss <a> vs <b>, max weight difference <d>

gives the optimizer steps each took, the loss of each one's final weights on
the first training examples, and the largest difference between the two final
networks' weights (same init, same batches, same Adam: only float rounding
should separate them); a mismatch makes the script exit 1. The `imp` case runs
3 rounds of IMP end to end through `rlth_runner.run.runner.run` and prints the
seconds per round. The `replicas` case trains k LeNet-300-100 seeds as one
batched fit (replicas=k) and as k single fits, and prints seed-steps per second
of each and the peak memory for each k. The last line is `ratio <median>` for the first training
case (LeNet-300-100 by default).

    python scripts/bench.py                  # all cases, a few minutes on 2 CPU cores
    python scripts/bench.py --quick          # under a minute
    python scripts/bench.py --device cuda    # the same cases on a GPU
    python scripts/bench.py --cases lenet,imp --steps 500 --reps 7
    python scripts/bench.py --cases replicas --replicas 1,2,4,8 --steps 200
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # the checkout's code, even without an editable install

from rlth_runner.data.batches import EpochShuffle, TensorBatches  # noqa: E402
from rlth_runner.lottery.pruning import masks  # noqa: E402
from rlth_runner.lottery.pruning.magnitude import prune_layerwise  # noqa: E402
from rlth_runner.models.lenet import LeNet300100  # noqa: E402
from rlth_runner.models.mlp import MLP  # noqa: E402
from rlth_runner.models.rlth_resnet import RLTHResNet  # noqa: E402

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
LAYER_TYPES = ("Linear", "Conv2d")
DENSITY = 0.2  # 80% sparsity
BATCH, LR, EVAL_BATCH, SEED = 60, 1e-3, 1024, 0
# How far apart the rlth and reference runs may end up and still count as the
# same work: float rounding only (the ops run in the same order on the same data).
SAME_LOSS_RTOL, SAME_WEIGHT_ATOL = 1e-4, 1e-4


# --------------------------------------------------------------------------- models
# rlth-runner's own networks, so the benchmark times what the runs train.


def lenet_300_100() -> nn.Module:
    return LeNet300100(input_shape=(1, 28, 28), num_classes=10)


def rlth_resnet() -> nn.Module:
    """The RLTH paper's CIFAR network as conf/model/rlth_resnet.yaml builds it."""
    return RLTHResNet(input_shape=(3, 32, 32), num_classes=10, width=8, hidden_layers=7)


# --------------------------------------------------------------------------- data


def read_idx(path: Path) -> np.ndarray:
    """An idx file (the MNIST family's format): magic, big-endian dims, then uint8 data."""
    raw = gzip.open(path).read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def fashion_mnist():
    """(train, val, description): the 60k training images and the 10k test images as validation."""
    files = {k: FASHION_DIR / f"{k}-images-idx3-ubyte.gz" for k in ("train", "t10k")}
    labels = {k: FASHION_DIR / f"{k}-labels-idx1-ubyte.gz" for k in ("train", "t10k")}
    if all(p.exists() for p in [*files.values(), *labels.values()]):
        xs = {k: torch.tensor(read_idx(p), dtype=torch.float32).unsqueeze(1) for k, p in files.items()}
        ys = {k: torch.tensor(read_idx(p), dtype=torch.long) for k, p in labels.items()}
        mean, std = float(xs["train"].mean()), float(xs["train"].std())
        for x in xs.values():
            x.sub_(mean).div_(std)
        return (xs["train"], ys["train"]), (xs["t10k"], ys["t10k"]), "Fashion-MNIST"
    print(f"notice: Fashion-MNIST not found in {FASHION_DIR}; using random tensors of the same shape")
    return random_data((1, 28, 28), 60_000, 10_000) + ("random Fashion-MNIST-shaped tensors",)


def random_data(shape, n_train: int, n_val: int):
    g = torch.Generator().manual_seed(SEED)
    make = lambda n: (torch.randn(n, *shape, generator=g), torch.randint(0, 10, (n,), generator=g))  # noqa: E731
    return make(n_train), make(n_val)


# --------------------------------------------------------------------------- one case


@dataclass
class Case:
    name: str
    label: str
    make_net: callable
    train: tuple
    val: tuple
    steps: int

    def fresh(self, masked: bool, device) -> nn.Module:
        """The same initial weights (and masks) every time."""
        torch.manual_seed(SEED)
        net = self.make_net()
        if masked:
            masks.attach(net, LAYER_TYPES)
            prune_layerwise(net, {name: DENSITY for name in masks.masked_layers(net)})
        return net.to(device)


@dataclass
class Trained:
    """One timed training run: wall and CPU seconds, optimizer steps, the trained network."""

    wall: float
    cpu: float
    steps: int
    net: nn.Module


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def clock() -> tuple[float, float]:
    """(wall, CPU) seconds. CPU time (all threads of this process) hardly moves
    when other processes take the cores away, so it is a steadier second opinion
    on a shared machine."""
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = clock()
    return wall - start[0], cpu - start[1]


def evaluate(net, x, y) -> tuple[float, float]:
    net.eval()
    loss = correct = 0.0
    with torch.inference_mode():
        for start in range(0, len(x), EVAL_BATCH):
            logits = net(x[start : start + EVAL_BATCH])
            target = y[start : start + EVAL_BATCH]
            loss += F.cross_entropy(logits, target, reduction="sum")
            correct += (logits.argmax(-1) == target).sum()
    net.train()
    return float(loss) / len(x), float(correct) / len(x)


def run_reference(case: Case, masked: bool, device) -> Trained:
    net = case.fresh(masked, device)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    pairs = [(m.weight, m.weight_mask) for m in masks.masked_layers(net).values()]
    (x, y), (vx, vy) = case.train, case.val
    sampler = EpochShuffle(len(x), BATCH, shuffle=True, seed=SEED)
    sync(device)
    started = clock()
    done, epoch = 0, 0
    net.train()
    while done < case.steps:
        sampler.set_epoch(epoch)
        for idx in sampler:
            idx = idx.to(device, non_blocking=True)
            loss = F.cross_entropy(net(x.index_select(0, idx)), y.index_select(0, idx))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                for weight, mask in pairs:
                    weight.mul_(mask)
            done += 1
            if done == case.steps:
                break
        if done % len(sampler) == 0:  # a completed epoch is validated, as the Trainer does
            evaluate(net, vx, vy)
        epoch += 1
    sync(device)
    return Trained(*since(started), done, net)


def run_rlth(case: Case, masked: bool, device, cfg, workdir: Path) -> Trained:
    from rlth_runner.training.tasks import Classifier
    from rlth_runner.storage.rundir import RunDir
    from rlth_runner.run.specs import trainer_settings
    from rlth_runner.training.trainer import build_trainer

    net = case.fresh(masked, device)
    module = Classifier(net, "adam", lr=LR, steps_per_block=cfg.train.steps_per_block)
    out = Path(tempfile.mkdtemp(dir=workdir))
    sync(device)
    started = clock()
    limits = (cfg.train.epochs, cfg.train.max_steps or -1)
    trainer, _ = build_trainer(trainer_settings(cfg, 0), RunDir(out).tensorboard_location(0), limits)
    train = TensorBatches(*case.train, BATCH, shuffle=True, seed=SEED)
    trainer.fit(module, train, TensorBatches(*case.val, EVAL_BATCH))
    sync(device)
    return Trained(*since(started), trainer.global_step, net)


def same_work(case: Case, reference: Trained, rlth: Trained) -> tuple[bool, str]:
    """Whether two runs did the same training, and the line that says so."""
    x, y = (t[:EVAL_BATCH] for t in case.train)
    loss_ref, loss_rlth = evaluate(reference.net, x, y)[0], evaluate(rlth.net, x, y)[0]
    ref_params, rlth_params = dict(reference.net.named_parameters()), dict(rlth.net.named_parameters())
    diff = float("inf")  # networks with different parameters
    if ref_params.keys() == rlth_params.keys():
        with torch.no_grad():
            diff = max(float((ref_params[n] - rlth_params[n]).abs().max()) for n in ref_params)
    ok = (reference.steps == rlth.steps == case.steps and diff <= SAME_WEIGHT_ATOL
          and abs(loss_rlth - loss_ref) <= SAME_LOSS_RTOL * abs(loss_ref))
    line = (f"same work: steps {reference.steps} vs {rlth.steps}, final loss {loss_ref:.6f} vs {loss_rlth:.6f}, "
            f"max weight difference {diff:.2e}")
    return ok, line


def compose_cfg(overrides: list[str]):
    from hydra import compose, initialize_config_dir
    from rlth_runner.entry.conf import CONFIG_DIR
    from rlth_runner.config import validate

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    validate(cfg)
    return cfg


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def bench_case(case: Case, args, device, hardware: str, workdir: Path) -> tuple[float, bool]:
    """(median ratio rlth/reference, whether every repetition did the same work both ways)."""
    def trainer_cfg(steps: int):
        # epochs is only a ceiling: max_steps decides
        return compose_cfg([f"hardware={hardware}", "rounds=1", f"train.batch_size={BATCH}", "train.epochs=1000",
                            f"train.max_steps={steps}", f"paths.output_dir={workdir}"])

    cfg = trainer_cfg(case.steps)
    runs = {
        "reference": lambda: run_reference(case, True, device),
        "rlth": lambda: run_rlth(case, True, device, cfg, workdir),
        "rlth dense": lambda: run_rlth(case, False, device, cfg, workdir),
    }
    print(f"\n== {case.name}: {case.label}; {case.steps} steps x {args.reps} reps, batch {BATCH}, Adam, "
          f"80% sparsity, {device.type}" + (f", {torch.get_num_threads()} threads" if device.type == "cpu" else ""), flush=True)

    # Warm-up: first calls pay for lazy imports and allocator growth.
    warm = Case(case.name, case.label, case.make_net, case.train, case.val, min(case.steps, 10))
    run_reference(warm, True, device)
    run_rlth(warm, True, device, trainer_cfg(warm.steps), workdir)

    times = {name: [] for name in runs}
    cpu = {name: [] for name in runs}
    peaks = {name: [] for name in runs}
    names = list(runs)
    all_same = True
    for rep in range(args.reps):
        order = names[rep % len(names) :] + names[: rep % len(names)]  # rotate so drift hits everyone
        trained = {}
        for name in order:
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            trained[name] = runs[name]()
            times[name].append(trained[name].wall)
            cpu[name].append(trained[name].cpu)
            if device.type == "cuda":
                peaks[name].append(torch.cuda.max_memory_allocated() / 2**20)
        ms = {name: 1e3 * times[name][-1] / case.steps for name in names}
        print(f"  rep {rep + 1}: reference {ms['reference']:.3f} ms/step | rlth {ms['rlth']:.3f} ms/step "
              f"(ratio {ms['rlth'] / ms['reference']:.3f}) | rlth dense {ms['rlth dense']:.3f} ms/step", flush=True)
        ok, line = same_work(case, trained["reference"], trained["rlth"])
        if trained["rlth dense"].steps != case.steps:
            ok, line = False, line + f"; rlth dense took {trained['rlth dense'].steps} steps"
        all_same &= ok
        print(f"  rep {rep + 1} {line}" + ("" if ok else "  <- NOT the same work"), flush=True)

    ratios = [r / f for r, f in zip(times["rlth"], times["reference"])]
    cpu_ratios = [r / f for r, f in zip(cpu["rlth"], cpu["reference"])]
    mask_cost = [m / d - 1 for m, d in zip(times["rlth"], times["rlth dense"])]
    med = {name: 1e3 * statistics.median(t) / case.steps for name, t in times.items()}
    print(f"  per step (median): reference {med['reference']:.3f} ms, rlth {med['rlth']:.3f} ms, rlth dense {med['rlth dense']:.3f} ms")
    print(f"  ratio rlth/reference: median {statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f})")
    print(f"  ratio of CPU time (all threads): median {statistics.median(cpu_ratios):.3f} (min {min(cpu_ratios):.3f}, max {max(cpu_ratios):.3f})")
    print(f"  mask overhead (rlth vs rlth dense): median {100 * statistics.median(mask_cost):+.1f}%, "
          f"CPU time {100 * statistics.median(m / d - 1 for m, d in zip(cpu['rlth'], cpu['rlth dense'])):+.1f}%")
    if device.type == "cuda":
        print("  peak GPU memory: " + ", ".join(f"{n} {statistics.median(p):.1f} MiB" for n, p in peaks.items()))
    print(f"  peak RSS of this process so far: {peak_rss_mb():.0f} MiB", flush=True)
    return statistics.median(ratios), all_same


def bench_imp(args, hardware: str, workdir: Path) -> None:
    from rlth_runner.run.runner import run

    out = workdir / "imp"
    overrides = ["rounds=3", f"hardware={hardware}", f"paths.output_dir={out}", f"paths.data_dir={workdir / 'data'}"]
    if args.quick:
        overrides.append("train.epochs=2")
    overrides += args.imp_overrides
    cfg = compose_cfg(overrides)
    print(f"\n== imp: 3 rounds end to end through rlth_runner.run.runner.run ({cfg.dataset.name}, {cfg.model.name}, "
          f"{cfg.train.epochs} epochs/round, batch {cfg.train.batch_size}); overrides: {' '.join(overrides[3:]) or 'none'}", flush=True)
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # the run's own round table
        summary = run(cfg)["summary"]
    wall = time.perf_counter() - started
    rounds = summary["rounds"]
    fits = [r["seconds"] for r in rounds]
    steps = [r["train_steps"] for r in rounds]
    print(f"  seconds per round (fit + test): {', '.join(f'{s:.2f}' for s in fits)}; {steps[0]} steps each")
    print(f"  wall clock for the whole run: {wall:.2f} s, {wall / len(rounds):.2f} s per round "
          f"(includes loading data, pruning, saving)")
    print(f"  per step, fixed costs included: {1e3 * statistics.median(f / s for f, s in zip(fits, steps)):.2f} ms", flush=True)


# --------------------------------------------------------------------------- replicas


def run_batched(case: Case, k: int, device, cfg, workdir: Path) -> Trained:
    """k seeds of `case` as one stacked network (replicas=k): rlth-runner's batched fit."""
    from pytorch_lightning.loggers import TensorBoardLogger

    from rlth_runner.models.stacked import stack
    from rlth_runner.run.specs import trainer_settings
    from rlth_runner.storage.rundir import RunDir
    from rlth_runner.training.replica_io import RepeatedBatches, ReplicaLoggers, StackedBatches
    from rlth_runner.training.replicas import StackedClassifier
    from rlth_runner.training.trainer import build_trainer

    nets = []
    for i in range(k):
        torch.manual_seed(SEED + i)
        net = case.make_net()
        masks.attach(net, LAYER_TYPES)
        prune_layerwise(net, {name: DENSITY for name in masks.masked_layers(net)})
        nets.append(net)
    stacked = stack(nets).to(device)
    module = StackedClassifier(stacked, k, "adam", lr=LR, steps_per_block=cfg.train.steps_per_block)
    out = RunDir(Path(tempfile.mkdtemp(dir=workdir)))
    sync(device)
    started = clock()
    where = out.tensorboard_location(0)
    loggers = ReplicaLoggers([TensorBoardLogger(save_dir=where.save_dir, name=where.name, version=f"seed_{i}", default_hp_metric=False)
                              for i in range(k)])
    trainer, _ = build_trainer(trainer_settings(cfg, 0), where, (cfg.train.epochs, cfg.train.max_steps or -1), logger=loggers)
    train = StackedBatches([TensorBatches(*case.train, BATCH, shuffle=True, seed=SEED + i) for i in range(k)])
    trainer.fit(module, train, RepeatedBatches(TensorBatches(*case.val, EVAL_BATCH), k))
    sync(device)
    return Trained(*since(started), trainer.global_step, stacked)


def bench_replicas(case: Case, ks: list[int], device, hardware: str, workdir: Path) -> None:
    """Seed-steps per second: k seeds batched in one fit against k single fits one after another
    (each as the runner trains a round), and peak memory against k."""
    cfg = compose_cfg([f"hardware={hardware}", "rounds=1", f"train.batch_size={BATCH}", "train.epochs=1000",
                       f"train.max_steps={case.steps}", f"paths.output_dir={workdir}"])
    print(f"\n== replicas: {case.label}; {case.steps} steps per seed, batch {BATCH} per seed, Adam, 80% sparsity, {device.type}"
          + (f", {torch.get_num_threads()} threads" if device.type == "cpu" else ""), flush=True)
    warm = Case(case.name, case.label, case.make_net, case.train, case.val, 10)
    warm_cfg = compose_cfg([f"hardware={hardware}", "rounds=1", f"train.batch_size={BATCH}", "train.epochs=1000", "train.max_steps=10",
                            f"paths.output_dir={workdir}"])
    run_rlth(warm, True, device, warm_cfg, workdir)
    run_batched(warm, 2, device, warm_cfg, workdir)
    for k in ks:  # ascending: the process's peak RSS then belongs to the largest k so far
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        batched = run_batched(case, k, device, cfg, workdir)
        peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else peak_rss_mb()
        singles = [run_rlth(case, True, device, cfg, workdir) for _ in range(k)]
        single_wall = sum(t.wall for t in singles)
        assert batched.steps == case.steps and all(t.steps == case.steps for t in singles)
        rate_b, rate_s = k * case.steps / batched.wall, k * case.steps / single_wall
        print(f"  k={k}: batched {rate_b:,.0f} seed-steps/s ({batched.wall:.2f} s) | {k} single fits {rate_s:,.0f} seed-steps/s "
              f"({single_wall:.2f} s) | ratio {rate_b / rate_s:.2f}x | peak {'GPU memory' if device.type == 'cuda' else 'RSS'} "
              f"{peak:.0f} MiB", flush=True)


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer steps and repetitions: under a minute")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--cases", default="lenet,mlp,resnet,imp", help="comma-separated: lenet, mlp, resnet, imp")
    p.add_argument("--steps", type=int, default=None, help="training steps per run for every training case")
    p.add_argument("--reps", type=int, default=None, help="repetitions of each way of training (default 5, quick 3)")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads on CPU (default: torch's choice)")
    p.add_argument("--imp-overrides", nargs="*", default=[], help="extra Hydra overrides for the imp case")
    p.add_argument("--replicas", default="1,2,4,8", help="the replicas case's seed counts k, comma-separated (ascending)")
    args = p.parse_args(argv)
    args.reps = args.reps or (3 if args.quick else 5)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = set(cases) - {"lenet", "mlp", "resnet", "imp", "replicas"}
    if unknown:
        p.error(f"unknown case(s) {sorted(unknown)}; choose from lenet, mlp, resnet, imp, replicas")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device is available")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    hardware = "gpu" if device.type == "cuda" else "cpu"

    from rlth_runner.training.trainer import quiet_lightning

    quiet_lightning()
    default_steps = {"lenet": 200 if args.quick else 1000, "mlp": 200 if args.quick else 1000, "resnet": 5 if args.quick else 20}
    steps = lambda name: args.steps or default_steps[name]  # noqa: E731

    print(f"torch {torch.__version__}, device {device}, python {sys.version.split()[0]}")
    ratios, same = [], True
    with tempfile.TemporaryDirectory(prefix="rlth-bench-") as tmp:
        workdir = Path(tmp)
        fashion = None
        for name in cases:
            if name in ("lenet", "mlp", "replicas") and fashion is None:
                train, val, source = fashion_mnist()
                fashion = (train[0].to(device), train[1].to(device)), (val[0].to(device), val[1].to(device)), source
            if name == "lenet":
                case = Case("lenet_300_100", f"LeNet-300-100 (784-300-100-10) on {fashion[2]}", lenet_300_100, fashion[0], fashion[1], steps(name))
            elif name == "mlp":
                make = lambda: MLP(input_shape=(1, 28, 28), num_classes=10, width=128, hidden_layers=5)  # noqa: E731
                case = Case("rlth_mlp", f"the RLTH MLP (784-128x6-10) on {fashion[2]}", make, fashion[0], fashion[1], steps(name))
            elif name == "resnet":
                train, val = random_data((3, 32, 32), 10_000, 2_000)
                train, val = tuple(t.to(device) for t in train), tuple(t.to(device) for t in val)
                case = Case("small_resnet", "RLTH small ResNet (3->8 7x7 stem, 7 basic blocks 8->8) on random CIFAR-shaped data", rlth_resnet, train, val, steps(name))
            elif name == "replicas":
                case = Case("lenet_300_100", f"LeNet-300-100 on {fashion[2]}", lenet_300_100, fashion[0], fashion[1], steps("lenet"))
                bench_replicas(case, [int(k) for k in args.replicas.split(",")], device, hardware, workdir)
                continue
            else:
                bench_imp(args, hardware, workdir)
                continue
            ratio, ok = bench_case(case, args, device, hardware, workdir)
            ratios.append(ratio)
            same &= ok
    if not ratios:
        return 0
    first = next(c for c in cases if c not in ("imp", "replicas"))
    if not same:
        print("\nerror: rlth and the reference did not do the same work (see the `same work` lines); the ratios compare unlike runs",
              file=sys.stderr)
    print(f"\nmedian ratio rlth/reference for {first}: {ratios[0]:.3f}")
    print(f"ratio {ratios[0]:.4f}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
