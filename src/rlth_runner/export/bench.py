"""Inference speed of a ticket's forms on this machine, for ticket.json's `bench`.

Latency is the median time of one forward pass of one example; throughput is
examples per second at a batch of 256, from the median time per batch. Inputs
are random, of the round's own input shape (dense and CSR kernels cost the
same whatever the values). The forms are timed in turns, a block each per
repetition, so that a machine that gets busier or quieter mid-way (a shared
one) shifts every form alike and the medians stay comparable.
"""

from __future__ import annotations

import os
import platform
import statistics
import time

import torch
from torch import nn

LATENCY_BATCH, THROUGHPUT_BATCH = 1, 256


def _block_time(net: nn.Module, x: torch.Tensor, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        net(x)
    return (time.perf_counter() - start) / calls


def _calls_for(net: nn.Module, x: torch.Tensor, block_s: float) -> int:
    """How many calls fill a block of about `block_s` seconds (at least one)."""
    once = min(_block_time(net, x, 1) for _ in range(3))
    return max(1, int(block_s / max(once, 1e-7)))


@torch.inference_mode()
def time_forms(forms: dict[str, nn.Module], input_shape, repeats: int = 7, block_s: float = 0.02, seed: int = 0) -> dict[str, dict]:
    """Per form: `latency_ms` at batch 1 and `throughput` (examples/s) at batch 256."""
    generator = torch.Generator().manual_seed(seed)
    out: dict[str, dict] = {name: {} for name in forms}
    for batch, key in ((LATENCY_BATCH, "latency_ms"), (THROUGHPUT_BATCH, "throughput")):
        x = torch.randn(batch, *input_shape, generator=generator)
        calls = {name: _calls_for(net, x, block_s) for name, net in forms.items()}  # also the warm-up
        times: dict[str, list[float]] = {name: [] for name in forms}
        for _ in range(repeats):
            for name, net in forms.items():
                times[name].append(_block_time(net, x, calls[name]))
        for name in forms:
            median = statistics.median(times[name])
            out[name][key] = round(1e3 * median, 4) if key == "latency_ms" else round(batch / median, 1)
    return out


def speedups(timings: dict[str, dict], sizes: dict[str, int | None]) -> dict[str, dict]:
    """Each form against `dense`: latency and throughput speed-ups and how much smaller its file is."""
    base, base_size = timings["dense"], sizes["dense"]
    out = {}
    for name, t in timings.items():
        size = sizes.get(name)
        out[name] = {**t, "file_bytes": size,
                     "latency_speedup": round(base["latency_ms"] / t["latency_ms"], 3),
                     "throughput_speedup": round(t["throughput"] / base["throughput"], 3),
                     "smaller": None if not size else round(base_size / size, 2)}
    return out


def machine(threads: int) -> dict:
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "torch_threads": threads, "device": "cpu"}
