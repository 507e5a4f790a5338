"""The compacted network as ONNX (`rlth-export --onnx`): written by torch.onnx,
checked by onnx.checker, and run by ONNX Runtime against torch on the same inputs.

The exporter is torch's TorchScript-based one (`dynamo=False`): a compacted
network is a fixed chain of standard layers, which it traces exactly, and it
needs no `onnxscript`. Input `input` (batch x the round's input shape),
output `logits`; the batch size is free.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import torch
from torch import nn

from ..storage.files import write_bytes
from . import bounds

OPSET = 17
PROBE = 64  # examples compared between torch and ONNX Runtime


class OnnxMismatch(RuntimeError):
    """ONNX Runtime's outputs differ from torch's by more than rounding can explain."""


def to_bytes(net: nn.Module, input_shape) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the notice that the TorchScript exporter is the older of torch's two
        torch.onnx.export(net, (torch.zeros(2, *input_shape),), buffer, dynamo=False, opset_version=OPSET, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return buffer.getvalue()


@torch.no_grad()
def write_onnx(net: nn.Module, ops: list[dict], state: dict, input_shape, path: Path, threads: int = 1) -> dict:
    """Write, check and compare; what ticket.json records under `onnx`."""
    import onnx
    import onnxruntime

    data = to_bytes(net.eval(), input_shape)
    onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    x = torch.randn(PROBE, *input_shape, generator=torch.Generator().manual_seed(0))
    ours = net(x)
    theirs = torch.from_numpy(session.run(None, {"input": x.numpy()})[0])
    diff = (ours - theirs).abs()
    # Both compute the same sums in their own order; bounds.py: what rounding alone can do.
    allowed = bounds.rounding_bound(ops, state, x)
    if not bool((diff <= allowed).all()):
        raise OnnxMismatch(f"ONNX Runtime's outputs differ from torch's by up to {float(diff.max()):.3g}, more than float32 rounding "
                           f"allows ({float(allowed.min()):.3g}): the ONNX file was not written")
    write_bytes(path, data)
    return {"file": path.name, "bytes": len(data), "opset": OPSET, "probe_examples": PROBE, "max_abs_diff": float(diff.max()),
            "tolerance": "per output: 2 gamma_N x the output of the network in absolute values (bounds.py)",
            "onnxruntime": onnxruntime.__version__, "onnx": onnx.__version__}
