"""A run's config (the newest copy Hydra saved in its directory, which
storage/layout.py finds), flattened to dotted keys, and its result-deciding
settings (config/fingerprint.py)."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path


def read_config(path: Path) -> tuple[dict, dict]:
    """The flattened config and its result-deciding settings."""
    data = _yaml_load(path.read_text())
    if not isinstance(data, dict):
        raise ValueError("not a mapping of keys")
    # `paths.output_dir` is ${hydra:runtime.output_dir}, which resolves only inside Hydra;
    # no path decides a result.
    data.pop("paths", None)
    data.pop("hydra", None)
    text = json.dumps(data, sort_keys=True, default=str)
    if "${" in text:  # an interpolation may read the seed: resolved for this run alone
        return _resolve(text)
    # A sweep's configs differ in a few keys, most often the seed alone: resolve each other config once.
    seed = data.get("seed")
    config, settings = _resolve(json.dumps({k: v for k, v in data.items() if k != "seed"}, sort_keys=True, default=str))
    return {**config, "seed": seed}, dict(sorted({**settings, "seed": seed}.items()))


@functools.lru_cache(maxsize=256)
def _resolve(text: str) -> tuple[dict, dict]:
    from omegaconf import OmegaConf

    from ..config.fingerprint import settings

    cfg = OmegaConf.create(json.loads(text))
    return flatten(OmegaConf.to_container(cfg, resolve=True)), settings(cfg)


@functools.cache
def _yaml_loader():
    """PyYAML's C loader, reading numbers as OmegaConf does: `1e-3` is a float, not YAML 1.1's string."""
    import yaml

    class Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        pass

    float_pattern = re.compile(r"""^(?:
        [-+]?[0-9]+(?:_[0-9]+)*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?[0-9]+(?:_[0-9]+)*(?:[eE][-+]?[0-9]+)
        |\.[0-9]+(?:_[0-9]+)*(?:[eE][-+][0-9]+)?
        |[-+]?[0-9]+(?:_[0-9]+)*(?::[0-5]?[0-9])+\.[0-9_]*
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""", re.X)  # OmegaConf's (omegaconf/_utils.py get_yaml_loader)
    Loader.add_implicit_resolver("tag:yaml.org,2002:float", float_pattern, list("-+0123456789."))
    return Loader


def _yaml_load(text: str):
    import yaml

    return yaml.load(text, Loader=_yaml_loader())


def flatten(node, prefix: str = "") -> dict:
    if isinstance(node, dict) and node:
        out = {}
        for key, value in node.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: node}
