"""Epoch time of the in-memory batches vs DataLoader(TensorDataset), same model and data.

LeNet-300-100 on Fashion-MNIST's 55,000 training images (Debian's files, or
paths under RLTH_DATA_DIR), batch 60, Adam. Three measurements per path:
iterating the batches alone, a plain PyTorch training epoch, and a Lightning
fit of one epoch as the runner does it. Prints the min and median of --repeats
interleaved runs.

    PYTHONPATH=src python scripts/bench_data_path.py [--repeats 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from rlth_runner.data.batches import TensorBatches
from rlth_runner.data.mnist import load_fashion_mnist
from rlth_runner.models.lenet import LeNet300100
from rlth_runner.training.tasks import Classifier
from rlth_runner.training.trainer import quiet_lightning

BATCH = 60


def loaders(data, device):
    x, y = data.train
    yield "in-memory (TensorBatches)", lambda: TensorBatches(x, y, BATCH, shuffle=True, seed=0)
    # the usual alternative: same tensors, per-example indexing and collate
    cpu = TensorDataset(x.cpu(), y.cpu())
    yield "DataLoader(TensorDataset)", lambda: DataLoader(cpu, batch_size=BATCH, shuffle=True, pin_memory=device.type == "cuda")


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def iterate_only(make, device):
    sync(device)
    start = time.perf_counter()
    for x, y in make():
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    sync(device)
    return time.perf_counter() - start


def plain_epoch(make, device, input_shape):
    torch.manual_seed(0)
    net = LeNet300100(input_shape, 10).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1.2e-3)
    sync(device)
    start = time.perf_counter()
    for x, y in make():
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    sync(device)
    return time.perf_counter() - start


def lightning_epoch(make, device, input_shape):
    torch.manual_seed(0)
    module = Classifier(LeNet300100(input_shape, 10), "adam", 1.2e-3)
    trainer = pl.Trainer(accelerator="gpu" if device.type == "cuda" else "cpu", devices=1, max_epochs=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         limit_val_batches=0, num_sanity_val_steps=0, log_every_n_steps=10)
    loader = make()
    sync(device)
    start = time.perf_counter()
    trainer.fit(module, loader)
    sync(device)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--data-dir", default=os.environ.get("RLTH_DATA_DIR", os.path.expanduser("~/.cache/rlth_runner/data")))
    args = parser.parse_args()
    device = torch.device(args.device)
    quiet_lightning()
    for name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch"):
        logging.getLogger(name).setLevel(logging.ERROR)
    pl.seed_everything(0, verbose=False)
    data = load_fashion_mnist(args.data_dir).to(device)
    print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads, "
          f"{len(data.train[0]):,} training images, batch {BATCH}, {args.repeats} runs each")
    for kind, measure in [("batches only", iterate_only), ("plain epoch", plain_epoch), ("Lightning epoch", lightning_epoch)]:
        paths = list(loaders(data, device))
        run = lambda make: measure(make, device) if measure is iterate_only else measure(make, device, data.input_shape)  # noqa: E731
        for _, make in paths:
            run(make)  # warm-up: allocator, kernels, Lightning imports
        times = {name: [] for name, _ in paths}
        for _ in range(args.repeats):  # interleaved, so a busy spell on a shared machine hits both paths
            for name, make in paths:
                times[name].append(run(make))
        for name, ts in times.items():
            print(f"{kind:16s} {name:27s} min {min(ts):7.2f} s   median {statistics.median(ts):7.2f} s", flush=True)
        a, b = (min(times[name]) for name, _ in paths)
        print(f"{kind:16s} DataLoader / in-memory (min): {b / a:.1f}x", flush=True)
    if hasattr(os, "getloadavg"):
        print("load average after: %.2f %.2f %.2f" % os.getloadavg())

if __name__ == "__main__":
    main()
