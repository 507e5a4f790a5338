"""Value checks for the dataset group, run before torch is imported.

Torch-free on purpose: config.validate calls `problem(cfg)` and turns the
returned line into a ConfigError.
"""

from __future__ import annotations


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def problem(cfg) -> str | None:
    """The first thing wrong with cfg.dataset, as one line, or None."""
    ds = cfg.dataset
    for key, minimum in (("val_size", 0), ("test_size", 1), ("split_seed", 0), ("data_seed", 0), ("d", 1), ("K", 1), ("r", 1), ("N", 1)):
        value = ds.get(key)
        if value is not None and (not _is_int(value) or value < minimum):
            return f"dataset.{key}={value!r} must be an integer >= {minimum}"
    if ds.get("r") is not None and ds.get("d") is not None and ds.r > ds.d:
        return f"dataset.r={ds.r} must be <= dataset.d={ds.d}: each teacher neuron connects to r of the d inputs"
    noise = ds.get("noise")
    if noise is not None and (not _is_num(noise) or noise < 0):
        return f"dataset.noise={noise!r} must be a number >= 0 (noise std relative to the rms output)"
    for key in ("augment", "download"):
        value = ds.get(key)
        if value is not None and not isinstance(value, bool):
            return f"dataset.{key}={value!r} must be true or false"
    return None
