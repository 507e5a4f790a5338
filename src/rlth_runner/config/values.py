"""One-line checks of single config values, shared by every check in the
config home and by each policy's own `check`. Torch-free.

Each failure raises ConfigError with one line that names the key, the value
and what is allowed; `rlth-run` prints it and exits 2.
"""

from __future__ import annotations

import math

from omegaconf import ListConfig


class ConfigError(ValueError):
    pass


def full_key(cfg, key: str) -> str:
    """`key` as the user writes it on the command line: a policy's `every` is `policy.every`."""
    try:
        return cfg._get_full_key(key)  # OmegaConf knows where a sub-config sits in the whole
    except AttributeError:  # a plain dict
        return key


def get(cfg, key: str):
    node = cfg
    for part in key.split("."):
        node = node.get(part) if hasattr(node, "get") else node[part]
    return node


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_finite(value) -> bool:
    """A number that is neither infinite nor NaN."""
    return is_number(value) and math.isfinite(value)


def integer(cfg, key: str, minimum: int, allow_none: bool = False) -> None:
    value = get(cfg, key)
    if value is None and allow_none:
        return
    if not is_int(value) or value < minimum:
        raise ConfigError(f"{full_key(cfg, key)}={value!r} must be an integer >= {minimum}" + (" or null" if allow_none else ""))


def number(cfg, key: str, low: float, high: float, high_open: bool = True, allow_none: bool = False, meaning: str = "") -> None:
    value = get(cfg, key)
    if value is None and allow_none:
        return
    if not (is_finite(value) and low <= value and (value < high if high_open else value <= high)):
        interval = f"[{low}, {high})" if high_open else f"[{low}, {high}]"
        raise ConfigError(f"{full_key(cfg, key)}={value!r} must be in {interval}{' or null' if allow_none else ''}{meaning}")


def at_least(cfg, key: str, minimum: float, strict: bool = False, allow_none: bool = False, meaning: str = "") -> None:
    """A finite number >= minimum (> minimum with strict): inf and nan are refused."""
    value = get(cfg, key)
    if value is None and allow_none:
        return
    if not (is_finite(value) and (value > minimum if strict else value >= minimum)):
        bound = f"{'>' if strict else '>='} {minimum}"
        raise ConfigError(f"{full_key(cfg, key)}={value!r} must be a number {bound} and finite{', or null' if allow_none else ''}{meaning}")


def choice(cfg, key: str, allowed) -> None:
    value = get(cfg, key)
    if value not in allowed:
        raise ConfigError(f"{full_key(cfg, key)}={value!r} is not one of: {', '.join(map(str, allowed))}")


def flag(cfg, key: str) -> None:
    value = get(cfg, key)
    if value is not None and not isinstance(value, bool):
        raise ConfigError(f"{full_key(cfg, key)}={value!r} must be true or false")


def patterns(cfg, key: str, example: str = "[output, 'hidden.*']") -> None:
    value = get(cfg, key)
    if value is not None and (isinstance(value, str) or not isinstance(value, (list, ListConfig)) or not all(isinstance(v, str) for v in value)):
        raise ConfigError(f"{full_key(cfg, key)}={value!r} must be a list of layer-name patterns such as {example}, or null")
