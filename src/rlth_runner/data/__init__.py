"""Datasets served as in-memory tensors.

Names are imported lazily, so that importing one submodule does not pull in
torch through this package.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "DataBundle": "bundle",
    "split_indices": "bundle",
    "TensorBatches": "batches",
    "DataError": "errors",
    "load_dataset": "load",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
