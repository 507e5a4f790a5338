"""The ticket files (docs/export.md): ticket.safetensors holds the round's
tensors under documented names, ticket.json says what they are.

    trained/<name>   the round's final state dict (weights, biases, batch-norm statistics), pruned weights zero
    mask/<layer>.weight   boolean: the weight positions the round kept
    init/<name>      the weights at initialisation, theta_0 (`policy=reset` rewinds to them)
    rewind/<name>    `policy=rewind`: the weights at `rewind_step` of round 0, theta_k

Masks are stored apart from the weights (not as `weight_mask` buffers) so that
another program loads `trained/` into a plain network of the same shapes.
Layers inserted by `policy=grow` after round 0 have no `init/` entry: they
did not exist at initialisation.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import torch
from torch import nn

from ..version import __version__
from ..run import checkpoints
from ..lottery.pruning import masks
from ..storage.files import write_bytes
from ..storage.layout import TicketFiles
from . import specnet

FORMAT, VERSION = "rlth-ticket", 1
TRAINED, MASK, INIT, REWIND = "trained/", "mask/", "init/", "rewind/"
MASK_SUFFIX = "." + masks.MASK


def ticket_tensors(weights: dict, layer_masks: dict, init: dict, rewind: dict | None) -> dict[str, torch.Tensor]:
    """The tensors of ticket.safetensors, by their documented names."""
    out = {}
    for prefix, state in ((TRAINED, weights), (INIT, init), (REWIND, rewind or {})):
        out.update({prefix + key: value.detach().cpu().clone().contiguous() for key, value in state.items() if not key.endswith(MASK_SUFFIX)})
    out.update({f"{MASK}{layer}.weight": m.detach().cpu().bool().contiguous() for layer, m in layer_masks.items()})
    return out


def save(path: Path, tensors: dict[str, torch.Tensor], **metadata) -> int:
    """Write a safetensors file atomically; its size in bytes."""
    from safetensors.torch import save as to_bytes

    data = to_bytes(tensors, metadata={"format": "pt", **{k: str(v) for k, v in metadata.items()}})
    write_bytes(path, data)
    return len(data)


def load(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


def versions(*extra: str) -> dict[str, str]:
    """The versions of the libraries that made (and can read) the files."""
    import importlib.metadata as md

    out = {"rlth_runner": __version__, "python": platform.python_version(), "torch": torch.__version__}
    for name in ("safetensors", "numpy", *extra):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def files_of(path: Path | str) -> TicketFiles:
    """The ticket files at `path`: an export folder, or its ticket.json or ticket.safetensors."""
    path = Path(path)
    return TicketFiles(path if path.is_dir() else path.parent)


def read_info(path: Path | str) -> dict:
    files = files_of(path)
    info = json.loads(files.info.read_text())
    if info.get("format") != FORMAT:
        raise ValueError(f"{files.info} is not an rlth-runner ticket (format {info.get('format')!r})")
    if info.get("version", 0) > VERSION:
        raise ValueError(f"{files.info} is ticket format {info['version']}; this rlth-runner reads up to {VERSION}: upgrade it")
    return info


def state_of(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The network's state dict from a ticket's tensors: `trained/` with the masks as `weight_mask` buffers."""
    state = {key[len(TRAINED):]: value for key, value in tensors.items() if key.startswith(TRAINED)}
    for key, mask in tensors.items():
        if key.startswith(MASK):
            weight = key[len(MASK):]
            state[weight[: -len(".weight")] + MASK_SUFFIX] = mask.to(state[weight].dtype)
    return state


def load_ticket(path: Path | str) -> nn.Module:
    """The round's network, masks included, in eval mode: the model rlth-runner trained, rebuilt from the ticket."""
    info = read_info(path)
    net = checkpoints.build_network(info["architecture"])
    checkpoints.restore(net, state_of(load(files_of(path).tensors)), info["architecture"])
    return net.eval()


def load_compact(path: Path | str) -> nn.Module:
    """The compacted network (a SpecNet of plain torch layers), in eval mode."""
    info = read_info(path)
    compact = info.get("compact") or {}
    if "forward" not in compact:
        raise ValueError(f"{files_of(path).info} has no compacted network: {compact.get('refused', 'it was exported without one')}")
    return specnet.from_state(compact["forward"], load(files_of(path).compact))
