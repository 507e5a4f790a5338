"""2:4 semi-structured sparsity on a CUDA GPU, a speed reference for the benchmark.

torch runs a weight with at most 2 nonzeros in every 4 consecutive inputs on
sparse tensor cores (`to_sparse_semi_structured`, float16). A ticket's masks
are not 2:4, so the ticket is first pruned further to 2:4 (the 2 largest of
every 4 kept): the timed network computes another function. Only chains of
linear layers qualify; their sizes are padded with zeros to multiples of 64,
as the kernels require, and so is the batch (to 32 for the latency).
Without a GPU the benchmark says so and times nothing.
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F

LINEAR_CHAIN = {"flatten", "select", "linear", "relu"}
ALIGN, MIN_BATCH = 64, 32


def _pad(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def _two_four(w: torch.Tensor) -> torch.Tensor:
    groups = w.reshape(w.shape[0], -1, 4)
    keep = groups.abs().argsort(dim=-1, descending=True)[..., :2]
    mask = torch.zeros_like(groups, dtype=torch.bool).scatter_(-1, keep, True)
    return (groups * mask).reshape(w.shape)


def _timed(fn, calls: int = 50, repeats: int = 7) -> float:
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - start) / calls)
    return statistics.median(times)


@torch.inference_mode()
def time_two_four(ops: list[dict], state: dict[str, torch.Tensor], input_features: int) -> dict:
    """Dense float16 against 2:4 float16 on the GPU: latency (ms) and throughput at batch 256; or why not."""
    if not torch.cuda.is_available():
        return {"skipped": "no CUDA GPU on this machine"}
    if any(op["op"] not in LINEAR_CHAIN for op in ops):
        return {"skipped": "only chains of linear layers are timed with 2:4 sparsity"}
    try:
        from torch.sparse import to_sparse_semi_structured

        dense, sparse = [], []
        for op in ops:
            if op["op"] != "linear":
                continue
            w = torch.zeros(_pad(op["out"]), _pad(op["in"]), dtype=torch.float16, device="cuda")
            w[: op["out"], : op["in"]] = state[f"{op['layer']}.weight"].half()
            b = torch.zeros(_pad(op["out"]), dtype=torch.float16, device="cuda")
            if f"{op['layer']}.bias" in state:
                b[: op["out"]] = state[f"{op['layer']}.bias"].half()
            dense.append((w, b))
            sparse.append((to_sparse_semi_structured(_two_four(w)), b))
        width = _pad(ops[[o["op"] for o in ops].index("linear")]["in"])

        def run(layers, x):
            for i, (w, b) in enumerate(layers):
                x = F.linear(x, w, b)
                x = F.relu(x) if i < len(layers) - 1 else x
            return x

        out = {}
        for batch, key in ((MIN_BATCH, "latency_ms"), (256, "throughput")):
            x = torch.randn(batch, width, dtype=torch.float16, device="cuda")
            d, s = _timed(lambda: run(dense, x)), _timed(lambda: run(sparse, x))
            out[f"dense_fp16_{key}"] = round(1e3 * d, 4) if key == "latency_ms" else round(batch / d, 1)
            out[f"two_four_{key}"] = round(1e3 * s, 4) if key == "latency_ms" else round(batch / s, 1)
        return {**out, "device": torch.cuda.get_device_name(), "exact": False, "input_features": input_features}
    except Exception as err:  # noqa: BLE001 (an unsupported GPU, shape or build: the benchmark says which)
        return {"skipped": f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"}
