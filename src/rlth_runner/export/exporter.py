"""What `rlth-export` does with a checked round (source.py): the ticket, the
compacted network in dense and CSR form, optionally ONNX and the benchmark,
and ticket.json last, so that a ticket.json always describes files that exist.

Every derived form is checked against the masked network on random inputs
before it is written, within the float32 rounding bound of bounds.py; one
that differs more is a bug, and nothing of it is written (`NotExact`).
"""

from __future__ import annotations

import copy
import math
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils import prune

from ..run import checkpoints
from ..lottery.pruning import masks
from ..storage.files import write_json
from ..storage.layout import TicketFiles
from . import bench, bounds, compact, csr, forward, semi, specnet, ticket
from .source import ExportError, Source

PROBE = 64  # random examples each derived form is checked on


class NotExact(RuntimeError):
    """A derived network's outputs differ from the masked network's by more than rounding allows."""


def _check(name: str, net: nn.Module, reference: nn.Module, ops: list[dict], state: dict, input_shape) -> float:
    x = torch.randn(PROBE, *input_shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        diff = (net(x) - reference(x)).abs()
    if not bool((diff <= bounds.rounding_bound(ops, state, x)).all()):
        raise NotExact(f"the {name} network's outputs differ from the masked network's by up to {float(diff.max()):.3g}, "
                       "more than float32 rounding allows: nothing was written for it (a bug: please report it)")
    return float(diff.max())


def _masked_dense(net: nn.Module) -> nn.Module:
    """`net` with its masks applied in the forward pass (torch.nn.utils.prune), as mask-hook pruning tools run."""
    net = copy.deepcopy(net)
    for layer in masks.masked_layers(net).values():
        mask = getattr(layer, masks.MASK)
        delattr(layer, masks.MASK)  # prune's own buffer has the same name
        prune.custom_from_mask(layer, "weight", mask)
    return net.eval()


def _chain(net: nn.Module, input_shape) -> tuple[list[dict] | None, str | None]:
    try:
        ops = forward.chain_of(net)
    except forward.NotAChain as err:
        return None, str(err)
    _check("chain", specnet.from_state(ops, net.state_dict()), net, ops, net.state_dict(), input_shape)
    return ops, None


def export_round(source: Source, out: Path, with_onnx: bool = False, with_bench: bool = False, threads: int = 1,
                 bench_repeats: int = 7) -> dict:
    run, k = source.run, source.round
    files = TicketFiles(out)
    arch = run.load_arch(k)
    input_shape = tuple(arch["input_shape"])
    net = checkpoints.load_network(run.root, k)
    state = net.state_dict()
    ops, refused = _chain(net, input_shape)
    if with_onnx and ops is None:
        raise ExportError(f"--onnx writes the compacted network, and this one cannot be compacted: {refused}")

    rewind, rewind_step = _rewind(run)
    tensors = ticket.ticket_tensors(run.load_weights(k), run.load_masks(k), run.load_init(), rewind)
    ticket.save(files.tensors, tensors, ticket=f"{ticket.FORMAT}/{ticket.VERSION}", round=k)
    info = {"format": ticket.FORMAT, "version": ticket.VERSION, "run": str(run.root.resolve()), "round": k,
            "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "architecture": arch, "forward": ops, **({"forward_refused": refused} if refused else {}),
            "tensors": {"file": files.tensors.name, "trained": ticket.TRAINED, "mask": ticket.MASK, "init": ticket.INIT,
                        "rewind": ticket.REWIND if rewind is not None else None, "rewind_step": rewind_step},
            "fingerprint": source.fingerprint(), "record": run.load_record(k).to_dict(),
            "versions": ticket.versions(*(("onnx", "onnxruntime") if with_onnx else ()))}

    forms: dict[str, nn.Module] = {"dense": net, "masked_dense": _masked_dense(net)}
    # File sizes as each form would ship: the dense state dict, and the same with boolean masks.
    sizes = {"dense": _bytes({key: v for key, v in state.items() if not key.endswith(ticket.MASK_SUFFIX)}),
             "masked_dense": _bytes({key: v.bool() if key.endswith(ticket.MASK_SUFFIX) else v for key, v in state.items()})}
    if ops is None:
        info["compact"] = {"refused": refused}
    else:
        info["compact"], small, sparse = _compact(net, ops, input_shape, files, k, sizes)
        forms.update(compact=small, csr=sparse)
        if with_onnx:
            from .to_onnx import write_onnx

            info["onnx"] = write_onnx(small, ops, state, input_shape, files.onnx, threads)
    if with_bench:
        timings = bench.time_forms(forms, input_shape, repeats=bench_repeats)
        info["bench"] = {"machine": bench.machine(threads), "latency_batch": bench.LATENCY_BATCH, "throughput_batch": bench.THROUGHPUT_BATCH,
                         "forms": bench.speedups(timings, sizes),
                         "two_four": semi.time_two_four(ops, state, math.prod(input_shape)) if ops else {"skipped": refused}}
    write_json(files.info, info)
    return info


def _compact(net: nn.Module, ops: list[dict], input_shape, files: TicketFiles, k: int, sizes: dict) -> tuple[dict, nn.Module, nn.Module]:
    """Compact, check and write the compacted network in dense and CSR form: ticket.json's `compact`, and both networks."""
    state = net.state_dict()
    done = compact.compact(ops, state, input_shape)
    small, sparse = specnet.from_state(done.ops, done.state), csr.CsrNet(done.ops, done.state)
    diffs = {"compact": _check("compacted", small, net, ops, state, input_shape), "csr": _check("CSR", sparse, net, ops, state, input_shape)}
    sizes["compact"] = ticket.save(files.compact, done.state, ticket=f"{ticket.FORMAT}/{ticket.VERSION}", round=k)
    sizes["csr"] = ticket.save(files.csr, csr.to_file(done.ops, done.state), ticket=f"{ticket.FORMAT}/{ticket.VERSION}", round=k)
    info = {"file": files.compact.name, "csr_file": files.csr.name, "forward": done.ops, "params": done.params,
            "params_before": sum(p.numel() for p in net.parameters()), "units": done.units, "input_features": done.inputs,
            "folded_units": done.folded, "max_abs_diff": diffs}
    return info, small, sparse


def _rewind(run) -> tuple[dict | None, int | None]:
    """policy=rewind's weights theta_k and their step k; (None, None) for the other policies."""
    try:
        state = run.load_rewind()
    except FileNotFoundError:
        return None, None
    return state, run.rewind_step()


def _bytes(state: dict) -> int:
    from safetensors.torch import save

    return len(save({key: value.contiguous() for key, value in state.items()}))
