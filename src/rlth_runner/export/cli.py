"""`rlth-export RUN [--round K]`: a finished round as files another program can
load (docs/export.md).

Exit status: 0 once everything is written; 2 for a bad input, with one line
`rlth-export: error: ...`: a RUN that does not exist or is not a run
directory, a round that does not exist or is not finished, a round whose
files are damaged (rundir.py's checksums), an --out that cannot be written,
--onnx for a model that cannot be compacted; 1, with one line, when a derived
network is not exact (a bug). RLTH_DEBUG=1 prints the traceback first.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings
from pathlib import Path

from ..storage.layout import TicketFiles
from .source import ExportError, check_out, open_round, remove_empty

PROG = "rlth-export"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Export a finished round of an rlth-run run: ticket.safetensors (trained weights, masks, initial weights) and "
                    "ticket.json (architecture, config fingerprint, the round's record, library versions), plus the compacted "
                    "network (compact.safetensors, and compact_csr.safetensors with sparse linear layers) for chain models.",
        epilog="Load it with rlth_runner.load_ticket(DIR), or with plain torch and safetensors: docs/export.md.")
    p.add_argument("run", type=Path, metavar="RUN", help="a run directory (rlth-run's outputs/<date>/<time>, or a sweep's job)")
    p.add_argument("--round", type=int, metavar="K", help="the round to export (default: the last finished one)")
    p.add_argument("--out", type=Path, metavar="DIR", help="where to write (default: RUN/export/round_K)")
    p.add_argument("--onnx", action="store_true", help="also write compact.onnx, checked by onnx.checker and compared under onnxruntime")
    p.add_argument("--bench", action="store_true",
                   help="time dense, masked-dense, compacted and CSR inference (batch 1 latency, batch 256 throughput) into ticket.json")
    p.add_argument("--threads", type=int, default=1, metavar="N", help="torch threads for the benchmark (default 1)")
    p.add_argument("--repeats", type=int, default=7, metavar="N",
                   help="timed blocks per form and batch size; the benchmark reports medians (default 7; more on a busy machine)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    debug = os.environ.get("RLTH_DEBUG") == "1"
    created: list[Path] = []  # directories for --out this command made: removed again if it fails
    try:
        for flag, value in (("--threads", args.threads), ("--repeats", args.repeats)):
            if value < 1:
                raise ExportError(f"{flag} {value} must be at least 1")
        source = open_round(args.run, args.round)
        out = args.out or source.run.export_dir(source.round)
        created = check_out(out)
        info = _export(source, out, args)
    except Exception as err:  # noqa: BLE001 (a bad input or a named failure is one line; anything else is a bug)
        code = _exit_code(err)
        if code is None:
            raise
        remove_empty(created)
        if debug:
            traceback.print_exc()
        print(f"{PROG}: error: {' '.join(str(err).split())}", file=sys.stderr)
        return code
    print(summary(info, out))
    return 0


def _export(source, out: Path, args) -> dict:
    import torch

    from .exporter import export_round

    torch.set_num_threads(args.threads)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ss]parse.*")  # CSR support is "beta" and its invariant checks are off
        try:
            return export_round(source, out, with_onnx=args.onnx, with_bench=args.bench, threads=args.threads, bench_repeats=args.repeats)
        except OSError as err:
            raise ExportError(f"cannot write to {out}: {err.strerror or err}") from None


def _exit_code(err: Exception) -> int | None:
    if isinstance(err, ExportError):
        return 2
    from .exporter import NotExact
    from .to_onnx import OnnxMismatch

    return 1 if isinstance(err, (NotExact, OnnxMismatch)) else None


def summary(info: dict, out: Path) -> str:
    lines = [f"{PROG}: round {info['round']} of {info['run']} -> {out}", f"  ticket:   {info['tensors']['file']}, {TicketFiles(out).info.name}"]
    c = info["compact"]
    if "refused" in c:
        lines.append(f"  compact:  not compacted: {c['refused']}")
    else:
        units = ", ".join(f"{name} {kept}/{total}" for name, (kept, total) in c["units"].items())
        inputs = f", inputs {c['input_features'][0]}/{c['input_features'][1]}" if c["input_features"] else ""
        lines.append(f"  compact:  {c['file']}, {c['csr_file']}: {c['params']:,} of {c['params_before']:,} parameters (units {units}{inputs})")
    if "onnx" in info:
        lines.append(f"  onnx:     {info['onnx']['file']} (onnx.checker passed; onnxruntime max |diff| {info['onnx']['max_abs_diff']:.2g})")
    if "bench" in info:
        lines.append(f"  bench:    {'form':<13}{'batch 1 ms':>11}{'speed-up':>9}{'batch 256 /s':>14}{'speed-up':>9}{'file bytes':>12}{'smaller':>8}")
        for name, f in info["bench"]["forms"].items():
            size = "-" if f["file_bytes"] is None else f"{f['file_bytes']:,}"
            smaller = "-" if f["smaller"] is None else f"{f['smaller']:.1f}x"
            lines.append(f"            {name:<13}{f['latency_ms']:>11.3f}{f['latency_speedup']:>8.2f}x{f['throughput']:>14,.0f}"
                         f"{f['throughput_speedup']:>8.2f}x{size:>12}{smaller:>8}")
        two_four = info["bench"]["two_four"]
        if "skipped" in two_four:
            lines.append(f"            2:4 sparsity: not timed ({two_four['skipped']})")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
